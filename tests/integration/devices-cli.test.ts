// txl create with devices, block-attach/-detach/-list, network-attach/-detach/-list and destroy through
// the CLI (in-process main()) on SimulatedHypervisor + MemoryXenstore + the fake host and backends:
// xl's argument forms, xl's -list columns, the Closing/Closed handshake, nothing left after destroy.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { syntheticElfKernel } from '../../domain-builder/testing/synthetic-kernel.js';
import { SimulatedHypervisor } from '../../hypervisor/index.js';
import { makeCliContext, setCliContextFactory } from '../../toolstack/cli/table.js';
import { setHotplugHostFactory } from '../../toolstack/devices/index.js';
import { destroyDomainFully } from '../../toolstack/operations/index.js';
import { MemoryXenstore, XenstoreClient } from '../../xenstore/index.js';
import { runTxl } from './cli.test.js';
import { FakeHost, startFakeBackends, type BackendDriverOptions } from './devices-fakes.js';

let dir: string;
/** libxl's userdata directory of the CLI context (/var/lib/xen on a host). */
let userdata: string;
let kernel: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'txl-devices-cli-'));
  kernel = join(dir, 'vmlinux');
  writeFileSync(kernel, syntheticElfKernel());
});

let sim: SimulatedHypervisor;
let mem: MemoryXenstore;
let xs: XenstoreClient;
let host: FakeHost;
let stop: (() => Promise<void>) | undefined;

async function drivers(opts: BackendDriverOptions = {}): Promise<void> {
  await stop?.();
  stop = await startFakeBackends(mem, host, opts);
}

beforeEach(async () => {
  sim = new SimulatedHypervisor();
  mem = new MemoryXenstore();
  xs = XenstoreClient.overMemory(mem);
  await xs.write('/local/domain/0/name', 'Domain-0');
  host = new FakeHost({ files: { '/srv/root.img': 'file', '/srv/data.img': 'file' }, bridges: ['xenbr0'] });
  await drivers();
  userdata = mkdtempSync(join(tmpdir(), 'txl-userdata-'));
  setCliContextFactory(async () => makeCliContext(sim, async () => XenstoreClient.overMemory(mem), false, userdata));
  setHotplugHostFactory(() => host);
});

afterEach(async () => {
  await stop?.();
  stop = undefined;
  await xs.close();
  setCliContextFactory(undefined);
  setHotplugHostFactory(undefined);
});

function cfg(name: string, lines: string[]): string {
  const path = join(dir, `${name}.cfg`);
  writeFileSync(path, [`name = "${name}"`, `kernel = "${kernel}"`, 'memory = 32', ...lines, ''].join('\n'));
  return path;
}

async function expectNothingLeft(): Promise<void> {
  const ls = (p: string): Promise<string[]> => xs.directory(p).catch(() => [] as string[]);
  expect((await ls('/local/domain')).filter((d) => d !== '0')).toEqual([]);
  for (const kind of ['vbd', 'vif', 'console']) expect(await ls(`/local/domain/0/backend/${kind}`)).toEqual([]);
  expect(await ls('/libxl')).toEqual([]);
  expect([...host.loops.keys()]).toEqual([]);
  expect([...host.ifaces.keys()]).toEqual([]);
  expect(readdirSync(userdata)).toEqual([]);
}

describe('devices through the txl CLI', () => {
  it('create attaches the disk and vif; the -list commands print xl\'s columns; destroy removes everything', async () => {
    const path = cfg('web', ['disk = [ "/srv/root.img,raw,xvda,rw" ]', 'vif = [ "mac=00:16:3e:0a:0b:0c,bridge=xenbr0" ]']);
    const dry = await runTxl(['create', '-n', path]);
    expect(dry.out).toMatch(/^ +5 +saveDomainConfig +userdata-d\.<domid>\.[0-9a-f-]{36}\.libxl-json \(xl list -l\)$/m);
    expect(dry.out).toMatch(/^ +6 +addDisk +disk\[0\] xvda \(vbd 51712\) from \/srv\/root\.img, read-write$/m);
    expect(dry.out).toMatch(/^ +7 +addVif +vif\[0\] mac 00:16:3e:0a:0b:0c on bridge xenbr0$/m);
    expect(dry.out).toMatch(/^ +13 +waitDevices +disk\[0\] xvda, vif\[0\] 00:16:3e:0a:0b:0c$/m);
    expect(host.calls).toEqual([]);

    const created = await runTxl(['create', '-q', path]);
    expect(created.err).toBe('');
    expect(created.status).toBe(0);
    expect(host.loops.get('/dev/loop0')).toEqual({ backing: '/srv/root.img', readOnly: false });
    expect(host.ifaces.get('vif1.0')).toMatchObject({ master: 'xenbr0', up: true });
    // The config is saved where libxl keeps it and `list -l` prints it as xl does.
    expect(readdirSync(userdata)).toEqual([expect.stringMatching(/^userdata-d\.1\.[0-9a-f-]{36}\.libxl-json$/)]);
    const long = await runTxl(['list', '-l', 'web']);
    expect(long.status).toBe(0);
    const [entry] = JSON.parse(long.out) as { domid: number; config: { c_info: { name: string }; disks: unknown[]; nics: unknown[]; b_info: { sched_params: unknown } } }[];
    expect(entry!.domid).toBe(1);
    expect(entry!.config.c_info.name).toBe('web');
    expect(entry!.config.disks).toEqual([{ pdev_path: '/srv/root.img', vdev: 'xvda', format: 'raw', readwrite: 1, colo_restore_enable: 'False' }]);
    expect(entry!.config.nics).toEqual([{ devid: 0, mac: '00:16:3e:0a:0b:0c', bridge: 'xenbr0', nictype: 'vif' }]);
    expect(entry!.config.b_info.sched_params).toEqual({ sched: 'credit2', weight: 256, cap: 0 });

    // tools/xl/xl_block.c main_blocklist and xl_nic.c main_networklist, printf for printf.
    const blocks = await runTxl(['block-list', 'web']);
    expect(blocks.status).toBe(0);
    expect(blocks.out).toBe(
      'Vdev  BE  handle state evt-ch ring-ref BE-path                       \n'
      + '51712 0   1      1     -1     -1       /local/domain/0/backend/vbd/1/51712\n',
    );
    const nics = await runTxl(['network-list', '1']);
    expect(nics.out).toBe(
      'Idx BE Mac Addr.         handle state evt-ch   tx-/rx-ring-ref BE-path                       \n'
      + '0   0  00:16:3e:0a:0b:0c     0     1     -1    -1/-1          /local/domain/0/backend/vif/1/0\n',
    );
    const bad = await runTxl(['block-list', 'nosuch', 'web']);
    expect(bad.err).toBe('nosuch is an invalid domain identifier\n');
    expect(bad.out.split('\n')).toHaveLength(3);

    const destroyed = await runTxl(['destroy', 'web']);
    expect(destroyed.status).toBe(0);
    await expectNothingLeft();
  });

  it('create refuses a missing image and a missing bridge, naming the field, with nothing created', async () => {
    const r = await runTxl(['create', '--json', cfg('nodisk', ['disk = [ "/srv/nope.img,raw,xvda,rw" ]'])]);
    expect(r.status).not.toBe(0);
    expect(JSON.parse(r.err.trim().split('\n').at(-1)!)).toMatchObject({ error: { code: 'TXL_DEV_TARGET_MISSING', message: 'disk[0]: target=/srv/nope.img does not exist' } });
    const b = await runTxl(['create', cfg('nobridge', ['vif = [ "bridge=br-missing" ]'])]);
    expect(b.status).not.toBe(0);
    expect(b.err).toContain('vif[0]: bridge=br-missing does not exist on this host');
    expect((await sim.listDomains()).filter((d) => d.domid !== 0)).toEqual([]);
    await expectNothingLeft();
  });

  it('block-attach, block-detach (handshake; timeout without -f; -f), network-attach and network-detach', async () => {
    expect((await runTxl(['create', cfg('app', [])])).status).toBe(0);
    /** The devices `list -l` shows (libxl keeps the saved config in step with hotplug). */
    const saved = async (): Promise<{ disks?: { vdev: string }[]; nics?: { devid: number; mac: string }[] }> =>
      (JSON.parse((await runTxl(['list', '-l', 'app'])).out) as { config: object }[])[0]!.config;
    expect(await saved()).not.toHaveProperty('disks');
    const attach = await runTxl(['block-attach', 'app', '/srv/data.img,raw,xvdb,rw']);
    expect(attach.err).toBe('');
    expect(attach.status).toBe(0);
    expect(await xs.read('/local/domain/0/backend/vbd/1/51728/hotplug-status')).toBe('connected');
    expect([...host.loops.values()]).toEqual([{ backing: '/srv/data.img', readOnly: false }]);
    const again = await runTxl(['block-attach', 'app', 'format=raw,', 'vdev=xvdb,', 'target=/srv/root.img']);
    expect(again.status).not.toBe(0);
    expect(again.err).toContain('vdev=xvdb is device 51728, which the disk domain 1 already has');
    expect((await runTxl(['block-list', 'app'])).out.split('\n')[1]).toMatch(/^51728 0   1      1     -1     -1       \/local\/domain\/0\/backend\/vbd\/1\/51728$/);
    expect((await saved()).disks).toEqual([{ pdev_path: '/srv/data.img', vdev: 'xvdb', format: 'raw', readwrite: 1, colo_restore_enable: 'False' }]);

    // The guest does not answer Closing: block-detach fails after its timeout and leaves the disk.
    await drivers({ cooperative: false });
    const stuck = await runTxl(['block-detach', '-t', '0.3', 'app', 'xvdb']);
    expect(stuck.status).not.toBe(0);
    expect(stuck.err).toContain('disk xvdb (vbd 51728) of domain 1: the backend did not reach state 6 within 0.3 s (state 5)');
    expect(host.loops.size).toBe(1);
    const forced = await runTxl(['block-detach', '-f', 'app', '51728']);
    expect(forced.status).toBe(0);
    expect(host.loops.size).toBe(0);
    expect(await xs.tryRead('/local/domain/1/device/vbd/51728')).toBeUndefined();
    expect(await saved()).not.toHaveProperty('disks');

    await drivers();
    expect((await runTxl(['block-attach', 'app', 'format=raw,vdev=xvdc,access=ro,target=/srv/data.img'])).status).toBe(0);
    expect((await runTxl(['block-detach', 'app', 'xvdc'])).status).toBe(0);
    expect(host.loops.size).toBe(0);
    expect((await runTxl(['block-detach', 'app', 'xvdc'])).err).toContain('domain 1 has no disk xvdc');

    const net = await runTxl(['network-attach', 'app', 'bridge=xenbr0', 'mac=00:16:3e:00:00:99']);
    expect(net.status).toBe(0);
    const net2 = await runTxl(['network-attach', 'app', 'vifname=app1']);
    expect(net2.status).toBe(0);
    expect(host.ifaces.get('vif1.0')).toMatchObject({ master: 'xenbr0', up: true });
    expect(host.ifaces.get('app1')).toMatchObject({ master: 'xenbr0', up: true });
    expect(await xs.read('/local/domain/1/device/vif/1/mac')).toMatch(/^00:16:3e(:[0-9a-f]{2}){3}$/);
    expect((await saved()).nics).toEqual([
      { devid: 0, mac: '00:16:3e:00:00:99', bridge: 'xenbr0', nictype: 'vif' },
      { devid: 1, mac: await xs.read('/local/domain/1/device/vif/1/mac'), bridge: 'xenbr0', ifname: 'app1', nictype: 'vif' },
    ]);
    expect((await runTxl(['network-detach', 'app', '00:16:3E:00:00:99'])).status).toBe(0);
    expect(host.ifaces.has('vif1.0')).toBe(false);
    expect((await saved()).nics!.map((n) => n.devid)).toEqual([1]);
    // An uncooperative guest: network-detach tears the vif down after the timeout anyway (libxl's forced fallback).
    await drivers({ cooperative: false });
    expect((await runTxl(['network-detach', '-t', '0.3', 'app', '1'])).status).toBe(0);
    expect([...host.ifaces.keys()]).toEqual([]);
    expect((await runTxl(['network-list', 'app'])).out.split('\n').filter(Boolean)).toHaveLength(1);
    expect((await runTxl(['destroy', 'app'])).status).toBe(0);
    await expectNothingLeft();
  });

  it('destroy frees the devices and nodes before the domain dies (libxl order): who waits for its death finds the image free', async () => {
    const domid = await sim.createDomain({ uuid: crypto.randomUUID(), maxVcpus: 1 });
    await xs.write(`/local/domain/${domid}/name`, 'order');
    const loop = (await host.runner.run(['losetup', '-f', '--show', '/srv/root.img'])).stdout.trim();
    await xs.write(`/local/domain/0/backend/vbd/${domid}/51712/params`, '/srv/root.img');
    await xs.write(`/local/domain/0/backend/vbd/${domid}/51712/node`, loop);
    const seen: boolean[] = [];
    host.beforeRun = async (argv) => {
      if (argv[0] === 'losetup' && argv[1] === '-d') seen.push((await sim.findDomain(domid)) !== undefined);
    };
    // And the domain's xenstore directory is gone before Xen destroys it (devices_destroy_cb).
    const nodesAtDestroy: (string | undefined)[] = [];
    const destroy = sim.destroyDomain.bind(sim);
    sim.destroyDomain = async (id) => {
      nodesAtDestroy.push(await xs.tryRead(`/local/domain/${id}/name`));
      return destroy(id);
    };
    try {
      await destroyDomainFully({ hypervisor: sim, store: xs, hotplug: host }, domid);
    } finally {
      host.beforeRun = undefined;
      sim.destroyDomain = destroy;
    }
    expect(seen).toEqual([true]);
    expect(nodesAtDestroy).toEqual([undefined]);
    expect(await sim.findDomain(domid)).toBeUndefined();
    await expectNothingLeft();
  });

  it('destroy removes a half-built domain\'s devices and loop devices, and a second destroy finds nothing to do', async () => {
    const domid = await sim.createDomain({ uuid: crypto.randomUUID(), maxVcpus: 1 });
    await xs.write(`/local/domain/${domid}/name`, 'half');
    // A backend with its loop device but no frontend (create died between the two), and a vif port.
    const loop = (await host.runner.run(['losetup', '-f', '--show', '/srv/root.img'])).stdout.trim();
    await xs.write(`/local/domain/0/backend/vbd/${domid}/51712/params`, '/srv/root.img');
    await xs.write(`/local/domain/0/backend/vbd/${domid}/51712/node`, loop);
    await xs.write(`/local/domain/0/backend/vif/${domid}/0/bridge`, 'xenbr0');
    host.ifaces.set(`vif${domid}.0`, { up: true, mtu: 1500, master: 'xenbr0', owner: `/local/domain/0/backend/vif/${domid}/0` });
    const r = await runTxl(['destroy', 'half']);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    await expectNothingLeft();
    await destroyDomainFully({ hypervisor: sim, store: xs, hotplug: host }, domid);
    await expectNothingLeft();
  });
});

describe('TXL_INJECT_FAILURE (the lab\'s rollback hook) through the txl CLI', () => {
  const steps = ['loadKernel', 'checkDevices', 'createDomain', 'writeDomainSkeleton', 'saveDomainConfig', 'addDisk', 'addVif', 'prepareBuild', 'buildDomain', 'writeXenstoreTree', 'setupConsole', 'introduceDomain', 'waitDevices', 'unpause'];
  afterEach(() => {
    delete process.env.TXL_INJECT_FAILURE;
  });

  it('the dry run lists the steps the hook accepts for this cfg', async () => {
    const r = await runTxl(['create', '-n', cfg('inj', ['disk = [ "/srv/root.img,raw,xvda,rw" ]', 'vif = [ "bridge=xenbr0" ]'])]);
    expect([...r.out.matchAll(/^ +\d+ +(\w+)/gm)].map((m) => m[1])).toEqual(steps);
  });

  for (const step of steps) {
    for (const phase of ['start', 'done']) {
      it(`create fails at ${step} (${phase}) naming it, exits 1 and leaves nothing`, async () => {
        process.env.TXL_INJECT_FAILURE = `${step}:${phase}`;
        const r = await runTxl(['create', cfg('inj', ['disk = [ "/srv/root.img,raw,xvda,rw" ]', 'vif = [ "bridge=xenbr0" ]'])]);
        expect(r.status).toBe(1);
        expect(r.err).toContain(`injected failure at ${step} (${phase})`);
        expect(r.err).toContain('hint: TXL_INJECT_FAILURE is set in the environment');
        // After the domain exists, the executor's rollback wraps it naming the step.
        if (!['loadKernel', 'checkDevices'].includes(step) && !(step === 'createDomain' && phase === 'start')) {
          expect(r.err).toMatch(new RegExp(`failed at ${step}: injected failure at ${step} \\(${phase}\\) \\(the half-built domain \\d+ was destroyed`));
        }
        expect((await sim.listDomains()).map((d) => d.domid)).toEqual([0]);
        await expectNothingLeft();
      });
    }
  }

  it('refuses an unknown step before creating anything, listing the accepted ones', async () => {
    process.env.TXL_INJECT_FAILURE = 'addDisc';
    const r = await runTxl(['create', cfg('inj', ['disk = [ "/srv/root.img,raw,xvda,rw" ]'])]);
    expect(r.status).toBe(1);
    expect(r.err).toContain("TXL_INJECT_FAILURE='addDisc': 'addDisc' is not a step of txl create; accepted: loadKernel, checkDevices, createDomain,");
    expect((await sim.listDomains()).map((d) => d.domid)).toEqual([0]);
    await expectNothingLeft();
  });
});
