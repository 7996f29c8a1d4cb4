// `txl create FILE` end to end in-process: xl.cfg -> DomainConfig -> planCreate -> executeCreate, on the
// simulator with an in-memory xenstored.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pattern, syntheticElfKernel } from '../../domain-builder/testing/synthetic-kernel.js';
import { SimulatedHypervisor } from '../../hypervisor/index.js';
import { makeCliContext, setCliContextFactory } from '../../toolstack/cli/table.js';
import { MemoryXenstore, XenstoreClient } from '../../xenstore/index.js';
import { runTxl } from './cli.test.js';

const dir = mkdtempSync(join(tmpdir(), 'txl-create-cli-'));
const kernel = join(dir, 'vmlinux');
const initrd = join(dir, 'initrd.img');
writeFileSync(kernel, syntheticElfKernel());
writeFileSync(initrd, pattern(100_000, 2));

let hv: SimulatedHypervisor;
let store: MemoryXenstore;
beforeEach(() => {
  hv = new SimulatedHypervisor();
  store = new MemoryXenstore();
  setCliContextFactory(async () => makeCliContext(hv, async () => XenstoreClient.overMemory(store), false));
});
afterEach(() => setCliContextFactory(undefined));

function cfg(name: string, body: string): string {
  const path = join(dir, `${name}.cfg`);
  writeFileSync(path, body);
  return path;
}

describe('txl create (simulator)', () => {
  it('-d prints the domain configuration as libxl JSON on stderr, as xl create -d does', async () => {
    const path = cfg('dbg', `name = "dbg"\nkernel = "${kernel}"\nmemory = 48\n`);
    const r = await runTxl(['create', '-q', '-d', path]);
    expect(r.status).toBe(0);
    const json = JSON.parse(r.err) as { c_info: { name: string; type: string }; b_info: { max_memkb: number } };
    expect([json.c_info.name, json.c_info.type, json.b_info.max_memkb]).toEqual(['dbg', 'pv', 48 * 1024]);
  });

  it('-F stays in the foreground, carries out on_poweroff="destroy" when the guest powers off, then returns', async () => {
    // What xenstored does on a domain's shutdown and death: fire @releaseDomain for the watchers.
    hv.subscribe((e) => (e.type === 'shutdown' ? store.shutdownXenDomain(e.domid) : store.destroyXenDomain(e.domid)));
    const path = cfg('fg', `name = "fg"\nkernel = "${kernel}"\nmemory = 32\non_poweroff = "destroy"\n`);
    const run = runTxl(['create', '-F', '-q', path]);
    let domid: number | undefined;
    for (let i = 0; i < 500 && domid === undefined; i++) {
      await new Promise((r) => setTimeout(r, 10));
      domid = (await hv.listDomains()).find((d) => d.domid !== 0 && !d.paused)?.domid;
    }
    expect(domid, 'the guest never ran').toBeDefined();
    let returned = false;
    void run.then(() => (returned = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(returned, '-F must not return while the guest runs').toBe(false);
    hv.injectShutdown(domid!, 'poweroff');
    const r = await run;
    expect(r.status).toBe(0);
    expect(r.err).toContain(`Waiting for domain fg (domid ${domid}) to die`);
    expect(r.err).toContain('Action for shutdown reason code 0 is destroy');
    expect(await hv.findDomain(domid!)).toBeUndefined();
    expect(await XenstoreClient.overMemory(store).tryRead(`/local/domain/${domid}/name`)).toBeUndefined();
  });

  it('creates and unpauses a PV domain from an xl.cfg', async () => {
    const path = cfg('web', `name = "web"\nkernel = "${kernel}"\nramdisk = "${initrd}"\nmemory = 64\nvcpus = 2\nextra = "console=hvc0"\n`);
    const r = await runTxl(['create', '--json', path]);
    expect(r.err).toBe(`Parsing config from ${path}\n`);
    expect(r.status).toBe(0);
    const result = JSON.parse(r.out) as { domid: number; paused: boolean };
    expect(result.paused).toBe(false);
    const info = await hv.getDomainInfo(result.domid);
    expect([info.paused, info.totPages]).toEqual([false, 64n * 256n]);
    const xs = XenstoreClient.overMemory(store);
    expect(await xs.read(`/local/domain/${result.domid}/name`)).toBe('web');
    expect(await xs.read(`/local/domain/${result.domid}/cpu/1/availability`)).toBe('online');
    const list = await runTxl(['list']);
    // vCPU 0 only until the guest brings the others up (cpu/N/availability).
    expect(list.out).toMatch(/^web +\d+ +64 +1 /m);
  });

  it('leaves the domain paused with -p', async () => {
    const path = cfg('paused', `name = "p1"\nkernel = "${kernel}"\nmemory = 32\n`);
    const r = await runTxl(['create', '-p', '--json', path]);
    expect(r.status).toBe(0);
    expect((await hv.getDomainInfo((JSON.parse(r.out) as { domid: number }).domid)).paused).toBe(true);
  });

  it('refuses a kernel that cannot run PV with the reason, and creates nothing', async () => {
    const notPv = join(dir, 'not-pv');
    writeFileSync(notPv, syntheticElfKernel({ notes: [] }));
    const path = cfg('bad', `name = "bad"\nkernel = "${notPv}"\nmemory = 32\n`);
    const r = await runTxl(['create', path]);
    expect(r.status).toBe(1);
    expect(r.err).toContain('no Xen PV entry note: the kernel needs CONFIG_XEN_PV');
    expect((await hv.listDomains()).map((d) => d.domid)).toEqual([0]);
  });
});
