// The domain commands (list, info, pause, unpause, destroy, domid, domname, uptime, dmesg, vcpu-list)
// in-process against SimulatedHypervisor + MemoryXenstore, and through the TXL_BACKEND=simulator state file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedHypervisor } from '../../hypervisor/index.js';
import { makeCliContext, setCliContextFactory } from '../../toolstack/cli/table.js';
import { MemoryXenstore, XenstoreClient } from '../../xenstore/index.js';
import { runTxl } from './cli.test.js';

const UUID = '5a1e0c3d-9b7f-4e21-8d6c-0f1e2d3c4b5a';

async function setup() {
  const sim = new SimulatedHypervisor({ xen: '4.17', nrCpus: 2, totalMemoryMiB: 4096, dom0MemoryMiB: 1024 });
  const store = new MemoryXenstore();
  const xs = XenstoreClient.overMemory(store);
  await xs.write('/local/domain/0/name', 'Domain-0');
  const web = await sim.createDomain({ maxVcpus: 2, uuid: UUID });
  await sim.setMaxVcpus(web, 2);
  await sim.setMaxMem(web, 65536n);
  await sim.populatePhysmap(web, 0, Array.from({ length: 64 * 256 }, (_x, i) => i));
  await xs.write(`/local/domain/${web}/name`, 'web');
  await xs.write(`/local/domain/${web}/vm`, `/vm/${UUID}`);
  await xs.write(`/vm/${UUID}/start_time`, String(Math.trunc(Date.now() / 1000) - 90061));
  await xs.write(`/local/domain/${web}/device/vbd/51712/backend`, `/local/domain/0/backend/vbd/${web}/51712`);
  await xs.write(`/local/domain/0/backend/vbd/${web}/51712/state`, '4');
  await xs.write(`/libxl/${web}/type`, 'pv');
  sim.addCpuTime(web, 12_345_000_000n);
  setCliContextFactory(async () => makeCliContext(sim, async () => XenstoreClient.overMemory(store), false));
  return { sim, xs, web };
}

describe('domain commands on the simulator', () => {
  let env: Awaited<ReturnType<typeof setup>>;
  beforeEach(async () => {
    env = await setup();
  });
  afterEach(async () => {
    setCliContextFactory(undefined);
    await env.xs.close();
  });

  it('txl list prints xl list columns byte for byte', async () => {
    const r = await runTxl(['list']);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toBe(
      'Name                                        ID   Mem VCPUs\tState\tTime(s)\n'
      + 'Domain-0                                     0  1024     2     r-----       0.0\n'
      + 'web                                          1    64     0     --p---      12.3\n',
    );
  });

  it('pause, unpause and guest shutdowns show in the State column', async () => {
    await env.sim.setVcpuContext(env.web, 0, await onlineContext(env.sim, env.web));
    expect((await runTxl(['unpause', 'web'])).status).toBe(0);
    expect(rowOf((await runTxl(['list', 'web'])).out)).toContain('     -b----  ');
    expect((await runTxl(['pause', '1'])).status).toBe(0);
    expect(rowOf((await runTxl(['list', '1'])).out)).toContain('     --p---  ');
    const again = await runTxl(['unpause', 'web']);
    expect(again.status).toBe(0);
    const twice = await runTxl(['unpause', 'web']);
    expect(twice.status).toBe(1);
    expect(twice.err).toContain('EINVAL');
    env.sim.injectShutdown(env.web, 'crash');
    expect(rowOf((await runTxl(['list', 'web'])).out)).toContain('     ---sc-  ');
  });

  it('unknown domains fail with a message and a hint', async () => {
    const r = await runTxl(['list', 'nope']);
    expect(r.status).toBe(1);
    expect(r.err).toContain("txl: domain 'nope' does not exist");
    expect(r.err).toContain("hint: List the domains with 'txl list'.");
    expect((await runTxl(['pause', '42'])).err).toContain("domain '42' does not exist");
    expect((await runTxl(['domid', 'nope'])).status).toBe(1);
    expect((await runTxl(['domname', 'x1'])).err).toContain("'x1' is not a domain id");
  });

  it('domid and domname map names and ids through xenstore', async () => {
    expect((await runTxl(['domid', 'web'])).out).toBe('1\n');
    expect((await runTxl(['domid', 'Domain-0'])).out).toBe('0\n');
    expect((await runTxl(['domname', '1'])).out).toBe('web\n');
    expect((await runTxl(['domname', '7'])).status).toBe(1);
  });

  it('destroy kills the domain and removes its xenstore nodes; dom0 needs -f', async () => {
    const refused = await runTxl(['destroy', '0']);
    expect(refused.status).toBe(1);
    expect(refused.err).toContain('not destroying domain 0');
    expect((await runTxl(['destroy', 'web'])).status).toBe(0);
    expect(await env.sim.findDomain(env.web)).toBeUndefined();
    expect(await env.xs.tryRead('/local/domain/1/name')).toBeUndefined();
    expect(await env.xs.tryRead(`/vm/${UUID}/start_time`)).toBeUndefined();
    expect(await env.xs.tryRead('/local/domain/0/backend/vbd/1/51712/state')).toBeUndefined();
    expect(await env.xs.tryRead('/libxl/1/type')).toBeUndefined();
    expect((await runTxl(['list'])).out.split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('txl info prints xl info keys in order, and one value by name', async () => {
    const r = await runTxl(['info']);
    expect(r.status).toBe(0);
    const keys = r.out.trim().split('\n').map((l) => l.slice(0, 23).trim());
    expect(keys).toEqual([
      'host', 'release', 'version', 'machine', 'nr_cpus', 'max_cpu_id', 'nr_nodes', 'cores_per_socket', 'threads_per_core',
      'cpu_mhz', 'hw_caps', 'virt_caps', 'total_memory', 'free_memory', 'sharing_freed_memory', 'sharing_used_memory',
      'outstanding_claims', 'free_cpus', 'xen_major', 'xen_minor', 'xen_extra', 'xen_version', 'xen_caps', 'xen_scheduler',
      'xen_pagesize', 'platform_params', 'xen_changeset', 'xen_commandline', 'cc_compiler', 'cc_compile_by',
      'cc_compile_domain', 'cc_compile_date', 'build_id', 'xend_config_format',
    ]);
    expect(r.out).toContain('total_memory           : 4096\n');
    expect(r.out).toContain('free_memory            : 3008\n'); // 4096 - 1024 (dom0) - 64 (web)
    expect(r.out).toContain('virt_caps              : pv gnttab-v1 gnttab-v2\n');
    expect(r.out).toContain('xen_version            : 4.17.5-sim\n');
    expect((await runTxl(['info', 'free_memory'])).out).toBe('3008\n');
    const json = JSON.parse((await runTxl(['info', '--json'])).out) as Record<string, string>;
    expect(json.nr_cpus).toBe('2');
  });

  it('txl list --json and vcpu-list', async () => {
    const list = JSON.parse((await runTxl(['list', '--json'])).out) as { name: string; state: string; memMiB: number }[];
    expect(list.map((d) => [d.name, d.state, d.memMiB])).toEqual([['Domain-0', 'r-----', 1024], ['web', '--p---', 64]]);
    const v = await runTxl(['vcpu-list', 'web']);
    expect(v.out).toBe(
      'Name                                ID  VCPU   CPU State   Time(s) Affinity (Hard / Soft)\n'
      + 'web                                  1     0    -   --p      12.3  all / all\n'
      + 'web                                  1     1    -   --p       0.0  all / all\n',
    );
  });

  it('uptime and dmesg', async () => {
    const u = await runTxl(['uptime', 'web']);
    expect(u.out).toMatch(/^Name {32}ID Uptime\nweb {34}1 1 day,  1:01:0[12]\n$/);
    const d = await runTxl(['dmesg']);
    expect(d.out).toContain('(XEN) Xen version 4.17');
    await runTxl(['dmesg', '-c']);
    expect((await runTxl(['dmesg'])).out).toBe('');
  });
});

describe('TXL_BACKEND selection', () => {
  const saved = { ...process.env };
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'txl-hv-'));
  });
  afterEach(() => {
    process.env = { ...saved };
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs against a simulator state file that persists across runs', async () => {
    const state = join(dir, 'sim.json');
    writeFileSync(state, JSON.stringify({ xenstore: { '/local/domain/0/name': 'Domain-0' } }));
    process.env.TXL_BACKEND = 'simulator';
    process.env.TXL_SIM_STATE = state;
    const first = await runTxl(['list']);
    expect(first.status).toBe(0);
    expect(first.out).toContain('Domain-0                                     0  1024');
    const saved1 = JSON.parse(readFileSync(state, 'utf8')) as { hypervisor: { domains: unknown[] }; xenstore: unknown };
    expect(saved1.hypervisor.domains).toHaveLength(1);
    expect(saved1.xenstore).toEqual({ '/local/domain/0/name': 'Domain-0' });
    expect((await runTxl(['info', 'xen_minor'])).out).toBe('17\n');
  });

  it('without Xen, the privcmd backend says this is not a dom0 and what to do', async () => {
    delete process.env.TXL_BACKEND;
    const r = await runTxl(['list']);
    expect(r.status).toBe(1);
    expect(r.err).toContain('no /dev/xen/privcmd: this machine is not running as a Xen dom0');
    expect(r.err).toContain('TXL_BACKEND=simulator');
  });

  it('rejects an unknown backend name', async () => {
    process.env.TXL_BACKEND = 'kvm';
    const r = await runTxl(['info']);
    expect(r.status).toBe(1);
    expect(r.err).toContain("TXL_BACKEND='kvm' is not a txl backend");
  });
});

function rowOf(listOutput: string): string {
  return listOutput.split('\n')[1] ?? '';
}

/** A minimal valid PV boot state: one pinned L4 and a context pointing at it. */
async function onlineContext(sim: SimulatedHypervisor, domid: number): Promise<Uint8Array> {
  const { vcpu_guest_context } = await import('../../hypervisor/index.js');
  const p2m = sim.physmap(domid);
  const l4 = p2m.get(100)!;
  return vcpu_guest_context.encode({ flags: (1n << 2n) | (1n << 5n), ctrlreg: [0n, 0n, 0n, BigInt(l4) << 12n] });
}
