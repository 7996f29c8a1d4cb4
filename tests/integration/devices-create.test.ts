// Disks and vifs in txl create (plan + executor) on SimulatedHypervisor + MemoryXenstore + a fake host
// (loop devices, bridges) + fake blkback/netback: devices set up concurrently before unpause, pre-flight
// errors before anything exists, and a failure injected at every step leaves nothing behind.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { syntheticElfKernel } from '../../domain-builder/testing/synthetic-kernel.js';
import { SimulatedHypervisor, type Hypervisor } from '../../hypervisor/index.js';
import { parseDiskSpec, parseVifSpec, parseXlCfg, resolveDomainConfig, vdevToDevid, type ResolvedDisk, type VifSpec } from '../../toolstack/config/index.js';
import { destroyDomainFully, executeCreate, planCreate, type CreateInput, type MicroOp } from '../../toolstack/operations/index.js';
import { MemoryXenstore, XenstoreClient } from '../../xenstore/index.js';
import { FakeHost, startFakeBackends, type BackendDriverOptions } from './devices-fakes.js';

const IMG = '/srv/guest.img';
const DATA = '/dev/vg/data';
const UUID = '0b5e1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b';

let kernel: string;
beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'txl-devices-'));
  kernel = join(dir, 'vmlinux');
  writeFileSync(kernel, syntheticElfKernel());
});

const disk = (spec: string): ResolvedDisk => {
  const d = parseDiskSpec(spec);
  return { ...d, devid: vdevToDevid(d.vdev)! };
};
const vif = (spec: string, i = 0): VifSpec => parseVifSpec(spec, i).vif;

interface Env {
  sim: SimulatedHypervisor;
  mem: MemoryXenstore;
  xs: XenstoreClient;
  host: FakeHost;
  stop: () => Promise<void>;
  /** libxl's userdata directory for this run. */
  userdata: string;
}
let envs: Env[] = [];
afterEach(async () => {
  for (const e of envs) {
    await e.stop();
    await e.xs.close();
  }
  envs = [];
});

async function setup(driver: BackendDriverOptions = {}): Promise<Env> {
  const sim = new SimulatedHypervisor();
  const mem = new MemoryXenstore();
  const xs = XenstoreClient.overMemory(mem);
  const host = new FakeHost({ files: { [IMG]: 'file', [DATA]: { block: (254 << 8) | 3 } }, bridges: ['xenbr0'] });
  const stop = await startFakeBackends(mem, host, driver);
  const env = { sim, mem, xs, host, stop, userdata: mkdtempSync(join(tmpdir(), 'txl-userdata-')) };
  envs.push(env);
  return env;
}

const input = (over: Partial<CreateInput> = {}): CreateInput => ({
  name: 'guest1', uuid: UUID, kernel, cmdline: 'console=hvc0', memoryMiB: 32, vcpus: 1,
  disks: [disk(`format=raw,vdev=xvda,access=rw,target=${IMG}`)], vifs: [vif('bridge=xenbr0')], ...over,
});

/** What must be gone after a failed create or a destroy: domains, nodes, loop devices, bridge ports, interfaces. */
async function expectNothingLeft(env: Env): Promise<void> {
  const dir = (p: string): Promise<string[]> => env.xs.directory(p).catch(() => [] as string[]);
  expect((await env.sim.listDomains()).map((d) => d.domid).filter((d) => d !== 0)).toEqual([]);
  expect((await dir('/local/domain')).filter((d) => d !== '0')).toEqual([]);
  for (const kind of ['vbd', 'vif', 'console']) expect(await dir(`/local/domain/0/backend/${kind}`)).toEqual([]);
  expect(await dir('/libxl')).toEqual([]);
  expect(await env.xs.tryRead(`/vm/${UUID}`)).toBeUndefined();
  expect([...env.host.loops.keys()]).toEqual([]);
  expect(env.host.bridgePorts()).toEqual([]);
  expect([...env.host.ifaces.keys()]).toEqual([]);
  expect(readdirSync(env.userdata)).toEqual([]);
}

function failing(hv: SimulatedHypervisor, failAt: string): Hypervisor {
  return new Proxy(hv, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop === failAt) return async () => { throw new Error(`injected ${failAt} failure`); };
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('txl create with disks and vifs', () => {
  it('plans pre-flight first, device nodes right after the skeleton, and the wait before unpause', () => {
    const plan = planCreate(input({ disks: [disk(`${IMG},raw,xvda,rw`), disk(`${DATA},raw,xvdb,ro`)] }), { random: () => 0.5 });
    expect(plan.map((o) => o.kind)).toEqual([
      'loadKernel', 'checkDevices', 'createDomain', 'writeDomainSkeleton', 'addDisk', 'addDisk', 'addVif',
      'prepareBuild', 'buildDomain', 'writeXenstoreTree', 'setupConsole', 'introduceDomain', 'waitDevices', 'unpause',
    ]);
    expect(plan[6]).toMatchObject({ kind: 'addVif', field: 'vif[0]', mac: '00:16:3e:80:80:80' });
    expect(plan[1]).toEqual({ kind: 'checkDevices', devices: ['disk[0] xvda', 'disk[1] xvdb', 'vif[0] 00:16:3e:80:80:80'] });
    expect(planCreate(input({ disks: [], vifs: [] })).map((o) => o.kind)).not.toContain('checkDevices');
    // -p: devices are still waited for, the domain stays paused.
    expect(planCreate(input(), { paused: true }).slice(-2).map((o) => o.kind)).toEqual(['introduceDomain', 'waitDevices']);
  });

  it('attaches a file image (loop device), a block device and two vifs, then unpauses', async () => {
    const env = await setup();
    const plan = planCreate(input({
      disks: [disk(`${IMG},raw,xvda,rw`), disk(`${DATA},raw,xvdb,ro`)],
      vifs: [vif('bridge=xenbr0'), vif('bridge=xenbr0,mac=00:16:3e:01:02:03,vifname=web1', 1)],
    }), { random: () => 0.25 });
    const r = await executeCreate(plan, { hypervisor: env.sim, xenstore: env.xs, hotplug: env.host });
    expect((await env.sim.getDomainInfo(r.domid)).paused).toBe(false);
    const be = (kind: string, devid: number, key: string): Promise<string | undefined> => env.xs.tryRead(`/local/domain/0/backend/${kind}/${r.domid}/${devid}/${key}`);
    expect(await be('vbd', 51712, 'hotplug-status')).toBe('connected');
    expect(await be('vbd', 51712, 'node')).toBe('/dev/loop0');
    expect(await be('vbd', 51712, 'physical-device')).toBe('7:0');
    expect(await be('vbd', 51728, 'physical-device')).toBe('fe:3');
    expect(await be('vbd', 51728, 'node')).toBeUndefined();
    expect([...env.host.loops]).toEqual([['/dev/loop0', { backing: IMG, readOnly: false }]]);
    expect(await be('vif', 0, 'mac')).toBe('00:16:3e:40:40:40');
    expect(await env.xs.read(`/local/domain/${r.domid}/device/vif/1/mac`)).toBe('00:16:3e:01:02:03');
    expect(env.host.ifaces.get(`vif${r.domid}.0`)).toMatchObject({ master: 'xenbr0', up: true });
    expect(env.host.ifaces.get('web1')).toMatchObject({ master: 'xenbr0', up: true });
    expect(await env.xs.read(`/local/domain/${r.domid}/device/vbd/51712/backend`)).toBe(`/local/domain/0/backend/vbd/${r.domid}/51712`);
    expect(r.ops.indexOf('waitDevices')).toBe(r.ops.indexOf('unpause') - 1);
  });

  it('sets devices up concurrently: the disk\'s losetup can wait for the vif to be on its bridge', async () => {
    const env = await setup();
    let vifOnBridge!: () => void;
    const bridged = new Promise<void>((resolve) => (vifOnBridge = resolve));
    env.host.beforeRun = async (argv) => {
      if (argv.includes('master')) vifOnBridge();
      // Serialised device set-up would never get to the vif while the disk waits here: fail, not hang.
      if (argv[0] === 'losetup' && argv[1] === '-f') {
        await Promise.race([bridged, new Promise((_, reject) => setTimeout(() => reject(new Error('the vif was not set up while the disk was')), 5000))]);
      }
    };
    const r = await executeCreate(planCreate(input()), { hypervisor: env.sim, xenstore: env.xs, hotplug: env.host });
    const order = env.host.calls.map((c) => c.join(' '));
    // losetup was called first and held until the vif was on its bridge: both were in flight at once.
    expect(order.findIndex((c) => c.startsWith('losetup -f'))).toBeLessThan(order.findIndex((c) => c.includes('master')));
    expect(await env.xs.read(`/local/domain/0/backend/vbd/${r.domid}/51712/hotplug-status`)).toBe('connected');
  });

  it('refuses a missing image, a missing bridge, a duplicated vdev and an image in use, before creating anything', async () => {
    const env = await setup();
    const run = (over: Partial<CreateInput>) => executeCreate(planCreate(input(over)), { hypervisor: env.sim, xenstore: env.xs, hotplug: env.host }).catch((e: unknown) => e);
    expect(await run({ disks: [disk('format=raw,vdev=xvda,target=/srv/missing.img')] })).toMatchObject({
      code: 'TXL_DEV_TARGET_MISSING', message: 'disk[0]: target=/srv/missing.img does not exist',
    });
    expect(await run({ vifs: [vif('bridge=xenbr9')] })).toMatchObject({ code: 'TXL_DEV_NO_BRIDGE', message: 'vif[0]: bridge=xenbr9 does not exist on this host' });
    expect(await run({ disks: [disk(`${IMG},raw,xvda,rw`), disk(`${DATA},raw,51712,ro`)] })).toMatchObject({
      code: 'TXL_DEV_DUPLICATE', message: expect.stringContaining('disk[1]: vdev=51712 is device 51712, which disk[0] (vdev=xvda) already uses'),
    });
    expect(await run({ disks: [disk('format=qcow2,vdev=xvda,target=/srv/guest.img')] })).toMatchObject({ code: 'TXL_DEV_INVALID' });
    await expectNothingLeft(env);
    expect(env.host.calls).toEqual([]);

    // Read-only on both sides may share; read-write on either side may not.
    const a = await executeCreate(planCreate(input({ disks: [disk(`${IMG},raw,xvda,ro`)], vifs: [] })), { hypervisor: env.sim, xenstore: env.xs, hotplug: env.host });
    const b = await executeCreate(planCreate(input({ name: 'guest2', uuid: crypto.randomUUID(), disks: [disk(`${IMG},raw,xvdb,ro`)], vifs: [] })), { hypervisor: env.sim, xenstore: env.xs, hotplug: env.host });
    expect(env.host.loops.size).toBe(2);
    const err = await run({ name: 'guest3', uuid: crypto.randomUUID(), disks: [disk(`${IMG},raw,xvda,rw`)], vifs: [] });
    expect(err).toMatchObject({ code: 'TXL_DEV_IN_USE', message: expect.stringMatching(new RegExp(`^disk\\[0\\]: target=${IMG} is already attached to domain ${a.domid} as xvda \\(read-only\\), and this disk is read-write`)) });
    expect((await env.sim.listDomains()).map((d) => d.domid).filter((d) => d !== 0)).toEqual([a.domid, b.domid]);
    for (const domid of [a.domid, b.domid]) await destroyDomainFully({ hypervisor: env.sim, store: env.xs, hotplug: env.host }, domid);
    await expectNothingLeft(env);
  });
});

describe('rollback of a create with a disk and a vif', () => {
  // The whole config too, so the plan saves libxl's userdata (removed on rollback like the rest).
  const saveConfig = resolveDomainConfig(parseXlCfg('name = "guest1"\nkernel = "/boot/vmlinuz"\nmemory = 32\n', 'guest1.cfg'), [], { generateUuid: () => UUID }).config;
  const kinds = planCreate(input({ kernel: '/boot/vmlinuz' }), { saveConfig }).map((o) => o.kind);
  for (const [index, kind] of kinds.entries()) {
    for (const phase of ['start', 'done'] as const) {
      it(`a failure at ${phase} of step ${index + 1} (${kind}) leaves no domain, nodes, loop device or bridge port`, async () => {
        const env = await setup();
        const plan = planCreate(input(), { saveConfig });
        const onStep = (op: MicroOp, p: 'start' | 'done'): void => {
          if (op === plan[index] && p === phase) throw new Error(`injected failure at ${phase} of ${kind}`);
        };
        const err = await executeCreate(plan, { hypervisor: env.sim, xenstore: env.xs, hotplug: env.host, onStep, userdataDir: env.userdata }).catch((e: unknown) => e);
        expect(err).toMatchObject({ message: expect.stringContaining(`injected failure at ${phase} of ${kind}`) });
        if (index > kinds.indexOf('createDomain') || (index === kinds.indexOf('createDomain') && phase === 'done')) {
          expect(err).toMatchObject({ code: 'TXL_CREATE_FAILED' });
        }
        await expectNothingLeft(env);
      });
    }
  }

  it('rolls back in libxl\'s destroy order (devices and nodes first, the domain last) and never sends XS_RELEASE', async () => {
    const env = await setup();
    const plan = planCreate(input(), { saveConfig });
    const calls: string[] = [];
    const destroy = env.sim.destroyDomain.bind(env.sim);
    env.sim.destroyDomain = async (domid) => {
      // What is left when Xen is told to kill the domain: nothing of its devices or nodes.
      calls.push(`destroy loops=${env.host.loops.size} vbd=${(await env.xs.directory('/local/domain/0/backend/vbd').catch(() => [])).length} dom=${await env.xs.tryRead(`/local/domain/${domid}/name`)}`);
      return destroy(domid);
    };
    env.xs.releaseDomain = async (domid) => void calls.push(`release ${domid}`);
    const onStep = (op: MicroOp, p: 'start' | 'done'): void => {
      if (op.kind === 'unpause' && p === 'done') throw new Error('injected failure after unpause');
    };
    const err = await executeCreate(plan, { hypervisor: env.sim, xenstore: env.xs, hotplug: env.host, onStep, userdataDir: env.userdata }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TXL_CREATE_FAILED' });
    // XS_RELEASE before the domain dies made xenconsoled keep its console mapping: a zombie domain in the lab.
    expect(calls).toEqual(['destroy loops=0 vbd=0 dom=undefined']);
    await expectNothingLeft(env);
  });

  const hotplugFailures: [string, (argv: readonly string[]) => boolean, RegExp][] = [
    ['losetup', (argv) => argv[0] === 'losetup' && argv[1] === '-f', /disk\[0\] \(vdev=xvda\): losetup of \/srv\/guest\.img failed: injected failure/],
    ['ip link set master (with and without the MTU)', (argv) => argv.includes('master'), /vif\[0\] \(bridge=xenbr0\): ip link set dev vif1\.0 master xenbr0 up failed/],
  ];
  for (const [what, when, message] of hotplugFailures) {
    it(`a failing ${what} fails the create naming the device, and leaves nothing`, async () => {
      const env = await setup();
      env.host.failWhen = when;
      const err = await executeCreate(planCreate(input()), { hypervisor: env.sim, xenstore: env.xs, hotplug: env.host }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'TXL_CREATE_FAILED', message: expect.stringMatching(message) });
      await expectNothingLeft(env);
    });
  }

  for (const stuck of ['vbd', 'vif'] as const) {
    it(`a ${stuck} backend that never reaches InitWait times out with a typed error naming the device`, async () => {
      const env = await setup({ stuck: [stuck] });
      const err = await executeCreate(planCreate(input(), { deviceTimeoutMs: 300 }), { hypervisor: env.sim, xenstore: env.xs, hotplug: env.host }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'TXL_CREATE_FAILED', message: expect.stringContaining(stuck === 'vbd' ? 'disk xvda (vbd 51712) of domain 1: the backend did not reach state 2 within 0.3 s' : 'vif 0 of domain 1: the backend did not reach state 2') });
      expect((err as { cause?: { cause?: { code?: string } } }).cause?.cause).toMatchObject({ code: 'TXL_DEV_TIMEOUT' });
      await expectNothingLeft(env);
    });
  }

  for (const failAt of ['setMaxMem', 'populatePhysmap', 'unpause']) {
    it(`a hypervisor failure in ${failAt} while device hotplug runs leaves nothing`, async () => {
      const env = await setup();
      const err = await executeCreate(planCreate(input()), { hypervisor: failing(env.sim, failAt), xenstore: env.xs, hotplug: env.host }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'TXL_CREATE_FAILED', message: expect.stringContaining(`injected ${failAt} failure`) });
      await expectNothingLeft(env);
    });
  }
});
