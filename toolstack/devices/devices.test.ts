// vbd/vif xenstore trees (keys, order, permissions as libxl 4.17 writes them) on MemoryXenstore, and the
// native hotplug steps against a fake host (losetup/ip recorded, stat and sysfs answered by the test).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDiskSpec, parseVifSpec, vdevToDevid } from '../config/index.js';
import type { ResolvedDisk } from '../config/index.js';
import type { RunOptions, RunResult } from '../../image-tools/runner.js';
import { MemoryXenstore, XenstoreClient } from '../../xenstore/index.js';
import { countingTransactions, meeting } from '../../xenstore/testing/counting.js';
import {
  detachLoop, physicalDevice, randomXenMac, removeDeviceNodes, splitDev, vbdHotplugAdd, vbdHotplugRemove, vbdNodes, vifHotplugOnline, vifNodes, writeDeviceNodes,
  type HotplugHost,
} from './index.js';

const disk = (spec: string): ResolvedDisk => {
  const d = parseDiskSpec(spec);
  return { ...d, devid: vdevToDevid(d.vdev)! };
};

let xs: XenstoreClient;
beforeEach(() => {
  xs = XenstoreClient.overMemory(new MemoryXenstore());
});
afterEach(async () => xs.close());

/** A fake host: stat answers from `files`, sysfs from `sys`, commands recorded and answered by `answer`. */
function fakeHost(files: Record<string, { kind: 'block' | 'file'; rdev?: number }>, sys: Record<string, string> = {}, answer?: (argv: readonly string[]) => RunResult) {
  const calls: string[][] = [];
  const host: HotplugHost = {
    runner: { run: async (argv: readonly string[], _o?: RunOptions) => { calls.push([...argv]); return answer?.(argv) ?? { status: 0, stdout: '', stderr: '' }; } },
    statPath: async (p) => (files[p] ? { kind: files[p]!.kind, rdev: files[p]!.rdev ?? 0 } : undefined),
    readSys: async (p) => sys[p],
  };
  return { host, calls };
}

describe('vbd nodes (libxl device_disk_add + libxl__device_generic_add)', () => {
  it('plans the backend and frontend keys in libxl order', () => {
    const dev = vbdNodes(5, disk('format=raw,vdev=xvda,access=rw,target=/dev/vg/web'));
    expect(dev.frontend).toBe('/local/domain/5/device/vbd/51712');
    expect(dev.backend).toBe('/local/domain/0/backend/vbd/5/51712');
    expect(dev.libxl).toBe('/libxl/5/device/vbd/51712');
    expect(dev.back).toEqual([
      ['params', '/dev/vg/web'], ['script', '/etc/xen/scripts/block'], ['frontend-id', '5'], ['online', '1'], ['removable', '0'],
      ['bootable', '1'], ['state', '1'], ['dev', 'xvda'], ['type', 'phy'], ['mode', 'w'], ['device-type', 'disk'],
      ['discard-enable', '1'], ['specification', 'xen'],
    ]);
    expect(dev.front).toEqual([
      ['backend-id', '0'], ['state', '1'], ['virtual-device', '51712'], ['device-type', 'disk'], ['trusted', '1'], ['protocol', 'x86_64-abi'],
    ]);
    const cd = vbdNodes(5, disk('/srv/debian.iso,raw,hdc,ro,devtype=cdrom'));
    expect(cd.back).toContainEqual(['mode', 'r']);
    expect(cd.back).toContainEqual(['device-type', 'cdrom']);
    expect(cd.back).toContainEqual(['discard-enable', '0']);
    expect(() => vbdNodes(5, disk('format=qcow2,vdev=xvdb,target=/x.qcow2'))).toThrow(/qdisk/);
  });

  it('writes the tree with libxl permissions and refuses a second add', async () => {
    const dev = vbdNodes(7, disk('format=raw,vdev=xvdb,access=ro,target=/img/data.raw'));
    await writeDeviceNodes(xs, dev);
    expect(await xs.read(`${dev.frontend}/backend`)).toBe(dev.backend);
    expect(await xs.read(`${dev.backend}/frontend`)).toBe(dev.frontend);
    expect(await xs.read(`${dev.backend}/mode`)).toBe('r');
    expect(await xs.read(`${dev.libxl}/params`)).toBe('/img/data.raw');
    expect(await xs.read(`${dev.libxl}/frontend`)).toBe(dev.frontend);
    expect(await xs.getPermissions(dev.frontend)).toEqual([{ domid: 7, access: 'n' }, { domid: 0, access: 'r' }]);
    expect(await xs.getPermissions(`${dev.frontend}/state`)).toEqual([{ domid: 7, access: 'n' }, { domid: 0, access: 'r' }]);
    expect(await xs.getPermissions(dev.backend)).toEqual([{ domid: 0, access: 'n' }, { domid: 7, access: 'r' }]);
    expect(await xs.getPermissions(`${dev.backend}/params`)).toEqual([{ domid: 0, access: 'n' }, { domid: 7, access: 'r' }]);
    await expect(writeDeviceNodes(xs, dev)).rejects.toMatchObject({ code: 'TXL_DEV_EXISTS' });
    await removeDeviceNodes(xs, dev);
    await removeDeviceNodes(xs, dev);
    expect(await xs.tryRead(dev.frontend)).toBeUndefined();
    expect(await xs.tryRead(dev.backend)).toBeUndefined();
    expect(await xs.tryRead(dev.libxl)).toBeUndefined();
  });
});

describe('device nodes and other transactions', () => {
  it('adds devices of different domains at once without failing each other\'s commits', async () => {
    const server = new MemoryXenstore();
    const clients = [XenstoreClient.overMemory(server), XenstoreClient.overMemory(server), XenstoreClient.overMemory(server)];
    try {
      const meet = meeting(3);
      const stores = clients.map((c) => countingTransactions(c, meet));
      // Each as its own xenstored connection, like concurrent txl processes; the first devices ever,
      // so backend/vbd and backend/vif are new too. The domains' own folders exist (writeDomainSkeleton).
      for (const domid of [5, 6, 7]) await Promise.all([clients[0]!.mkdir(`/local/domain/${domid}/device`), clients[0]!.mkdir(`/libxl/${domid}/device`)]);
      const devs = [
        vbdNodes(5, disk('format=raw,vdev=xvda,access=rw,target=/img/a.raw')),
        vbdNodes(6, disk('format=raw,vdev=xvda,access=rw,target=/img/b.raw')),
        vifNodes(7, parseVifSpec('bridge=xenbr0').vif, '00:16:3e:00:00:07'),
      ];
      await Promise.all(devs.map((dev, i) => writeDeviceNodes(stores[i]!.store, dev)));
      expect(stores.map((s) => s.attempts())).toEqual([1, 1, 1]);
      for (const dev of devs) expect(await clients[0]!.read(`${dev.backend}/frontend`)).toBe(dev.frontend);
      // The per-domain folders, made outside the transactions, are as libxl's (the parent's permissions).
      expect(await clients[0]!.getPermissions('/local/domain/0/backend/vbd/5')).toEqual(await clients[0]!.getPermissions('/local/domain/0/backend'));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('a refused add leaves no empty per-domain backend folder, and keeps one that holds another device', async () => {
    const a = vbdNodes(8, disk('format=raw,vdev=xvda,access=rw,target=/img/a.raw'));
    const b = vbdNodes(8, disk('format=raw,vdev=xvdb,access=rw,target=/img/b.raw'));
    await xs.write(`${b.frontend}/state`, '1');
    await expect(writeDeviceNodes(xs, b)).rejects.toMatchObject({ code: 'TXL_DEV_EXISTS' });
    expect(await xs.tryRead('/local/domain/0/backend/vbd/8')).toBeUndefined();
    await writeDeviceNodes(xs, a);
    await expect(writeDeviceNodes(xs, b)).rejects.toMatchObject({ code: 'TXL_DEV_EXISTS' });
    expect(await xs.directory('/local/domain/0/backend/vbd/8')).toEqual(['51712']);
  });
});

describe('vif nodes (libxl__device_add_async + libxl__set_xenstore_nic)', () => {
  it('plans keys in libxl order, with optional ones only when set, and mtu read-only in the frontend', async () => {
    const plain = vifNodes(3, parseVifSpec('bridge=xenbr0').vif, '00:16:3E:0A:0B:0C');
    expect(plain.back).toEqual([
      ['frontend-id', '3'], ['online', '1'], ['state', '1'], ['script', '/etc/xen/scripts/vif-bridge'], ['mac', '00:16:3e:0a:0b:0c'],
      ['bridge', 'xenbr0'], ['handle', '0'], ['type', 'vif'], ['hotplug-status', ''],
    ]);
    // As xl 4.17 writes them (tests/xen/create.test.ts compares the whole tree with xl's in the lab).
    expect(plain.front).toEqual([['backend-id', '0'], ['state', '1'], ['handle', '0'], ['mac', '00:16:3e:0a:0b:0c'], ['trusted', '1']]);
    expect(vifNodes(3, parseVifSpec('bridge=xenbr0,untrusted').vif, '00:16:3e:0a:0b:0c').front).toContainEqual(['trusted', '0']);
    expect(plain.roFront).toEqual([['mtu', '1500']]);
    const full = vifNodes(3, parseVifSpec('mac=00:16:3e:01:02:03,ip=10.0.0.2,vifname=web0,rate=10Mb/s,mtu=9000,gatewaydev=eth0', 1).vif, '00:16:3e:01:02:03');
    expect(full.back.map(([k]) => k)).toEqual(['frontend-id', 'online', 'state', 'script', 'vifname', 'mac', 'ip', 'gatewaydev', 'rate', 'mtu', 'bridge', 'handle', 'type', 'hotplug-status']);
    expect(full.back).toContainEqual(['rate', '62500,50000']);
    expect(full.frontend).toBe('/local/domain/3/device/vif/1');
    await writeDeviceNodes(xs, full);
    expect(await xs.getPermissions(`${full.frontend}/mtu`)).toEqual([{ domid: 0, access: 'n' }, { domid: 3, access: 'r' }]);
    expect(await xs.getPermissions(`${full.frontend}/mac`)).toEqual([{ domid: 3, access: 'n' }, { domid: 0, access: 'r' }]);
    expect(() => vifNodes(3, parseVifSpec('bridge=xenbr0').vif, '00:16:3e:zz:00:00')).toThrow(/not a MAC/);
  });

  it('random MACs are in the Xen OUI', () => {
    expect(randomXenMac()).toMatch(/^00:16:3e(:[0-9a-f]{2}){3}$/);
    expect(randomXenMac(() => 0.999)).toBe('00:16:3e:ff:ff:ff');
  });
});

describe('native block hotplug', () => {
  it('a block device: physical-device in hex major:minor, no loop', async () => {
    const d = disk('format=raw,vdev=xvda,access=rw,target=/dev/vda');
    const dev = vbdNodes(5, d);
    await writeDeviceNodes(xs, dev);
    const { host, calls } = fakeHost({ '/dev/vda': { kind: 'block', rdev: (254 << 8) | 0 } });
    expect(await vbdHotplugAdd(xs, host, dev, d)).toEqual({});
    expect(await xs.read(`${dev.backend}/physical-device`)).toBe('fe:0');
    expect(await xs.read(`${dev.backend}/physical-device-path`)).toBe('/dev/vda');
    expect(await xs.read(`${dev.backend}/hotplug-status`)).toBe('connected');
    expect(calls).toEqual([]);
  });

  it('a file image: losetup -f --show (-r when read-only), node recorded, detached on remove', async () => {
    const d = disk('format=raw,vdev=xvdb,access=ro,target=/img/a.raw');
    const dev = vbdNodes(5, d);
    await writeDeviceNodes(xs, dev);
    const { host, calls } = fakeHost(
      { '/img/a.raw': { kind: 'file' }, '/dev/loop3': { kind: 'block', rdev: (7 << 8) | 3 } },
      { '/sys/block/loop3/loop/backing_file': '/img/a.raw' },
      (argv) => (argv[1] === '-f' ? { status: 0, stdout: '/dev/loop3\n', stderr: '' } : { status: 0, stdout: '', stderr: '' }),
    );
    expect(await vbdHotplugAdd(xs, host, dev, d)).toEqual({ loop: '/dev/loop3' });
    expect(calls).toEqual([['losetup', '-f', '--show', '-r', '/img/a.raw']]);
    expect(await xs.read(`${dev.backend}/node`)).toBe('/dev/loop3');
    expect(await xs.read(`${dev.backend}/physical-device`)).toBe('7:3');
    expect(await xs.read(`${dev.backend}/physical-device-path`)).toBe('/dev/loop3');
    await vbdHotplugRemove(xs, host, dev);
    expect(calls.at(-1)).toEqual(['losetup', '-d', '/dev/loop3']);
  });

  it('waits (bounded) for the kernel to free a loop device blkback still held when losetup -d ran', async () => {
    const sys: Record<string, string> = { '/sys/block/loop3/loop/backing_file': '/img/a.raw' };
    let reads = 0;
    const { host, calls } = fakeHost({}, sys);
    // After losetup -d the device stays bound (autoclear) for three more polls, then blkback lets go.
    const held: HotplugHost = { ...host, readSys: async (p) => (calls.length && ++reads > 3 ? undefined : sys[p]) };
    await detachLoop(held, '/dev/loop3', '/img/a.raw', { pollMs: 1 });
    expect(calls).toEqual([['losetup', '-d', '/dev/loop3']]);
    expect(reads).toBe(4);
    // Still held after the wait: not an error (the kernel frees it when blkback closes it).
    const stuck = fakeHost({}, sys);
    const started = Date.now();
    await detachLoop(stuck.host, '/dev/loop3', '/img/a.raw', { pollMs: 5, releaseTimeoutMs: 40 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    expect(stuck.calls).toEqual([['losetup', '-d', '/dev/loop3']]);
  });

  it('leaves a loop device alone that is free or now serves another file (idempotent remove)', async () => {
    const d = disk('format=raw,vdev=xvdb,access=ro,target=/img/a.raw');
    const dev = vbdNodes(5, d);
    await writeDeviceNodes(xs, dev);
    await xs.write(`${dev.backend}/node`, '/dev/loop3');
    const free = fakeHost({}, {});
    await vbdHotplugRemove(xs, free.host, dev);
    expect(free.calls).toEqual([]);
    const reused = fakeHost({}, { '/sys/block/loop3/loop/backing_file': '/img/other.raw' });
    await vbdHotplugRemove(xs, reused.host, dev);
    expect(reused.calls).toEqual([]);
  });

  it('refuses an image another domain has writable, and a missing target, writing hotplug-error', async () => {
    const first = disk('format=raw,vdev=xvda,access=rw,target=/img/shared.raw');
    const a = vbdNodes(5, first);
    await writeDeviceNodes(xs, a);
    const { host } = fakeHost({ '/img/shared.raw': { kind: 'file' }, '/dev/loop0': { kind: 'block', rdev: 7 << 8 } }, {}, () => ({ status: 0, stdout: '/dev/loop0\n', stderr: '' }));
    await vbdHotplugAdd(xs, host, a, first);
    const second = disk('format=raw,vdev=xvda,access=ro,target=/img/shared.raw');
    const b = vbdNodes(6, second);
    await writeDeviceNodes(xs, b);
    await expect(vbdHotplugAdd(xs, host, b, second)).rejects.toMatchObject({ code: 'TXL_DEV_HOTPLUG' });
    expect(await xs.read(`${b.backend}/hotplug-status`)).toBe('error');
    expect(await xs.read(`${b.backend}/hotplug-error`)).toContain('already in use by another domain');
    const missing = disk('format=raw,vdev=xvdc,target=/img/nope.raw');
    const c = vbdNodes(6, missing);
    await writeDeviceNodes(xs, c);
    await expect(vbdHotplugAdd(xs, host, c, missing)).rejects.toThrow(/does not exist/);
  });

  it('splits dev_t like glibc (large majors and minors)', () => {
    expect(splitDev((8 << 8) | 16)).toEqual({ major: 8, minor: 16 });
    // major 259, minor 300: minor low 8 bits in 0-7, the rest from bit 20; major bits 8-19.
    const rdev = (300 & 0xff) | (259 << 8) | ((300 & ~0xff) << 12);
    expect(splitDev(rdev)).toEqual({ major: 259, minor: 300 });
    expect(physicalDevice(rdev)).toBe('103:12c');
  });
});

describe('native vif-bridge', () => {
  it('renames, sets the bridge MTU, attaches and brings the port up, then hotplug-status=connected', async () => {
    const vif = parseVifSpec('bridge=xenbr0,vifname=web0').vif;
    const dev = vifNodes(4, vif, '00:16:3e:00:00:01');
    await writeDeviceNodes(xs, dev);
    const { host, calls } = fakeHost({}, { '/sys/class/net/xenbr0/bridge/bridge_id': '8000.x', '/sys/class/net/xenbr0/mtu': '1500' });
    expect(await vifHotplugOnline(xs, host, dev, vif)).toEqual({ ifname: 'web0' });
    expect(calls).toEqual([
      ['ip', 'link', 'set', 'dev', 'vif4.0', 'name', 'web0'],
      ['ip', 'link', 'set', 'dev', 'web0', 'mtu', '1500', 'master', 'xenbr0', 'up'],
    ]);
    expect(await xs.read(`${dev.backend}/hotplug-status`)).toBe('connected');
  });

  it('uses the configured MTU before the bridge\'s, tells the frontend, and goes on when the MTU is refused (set_mtu)', async () => {
    const vif = parseVifSpec('bridge=xenbr0,mtu=9000').vif;
    const dev = vifNodes(4, vif, '00:16:3e:00:00:03');
    await writeDeviceNodes(xs, dev);
    const refuseMtu = (argv: readonly string[]): RunResult => (argv.includes('mtu') ? { status: 2, stdout: '', stderr: 'Error: mtu greater than device maximum.' } : { status: 0, stdout: '', stderr: '' });
    const { host, calls } = fakeHost({}, { '/sys/class/net/xenbr0/bridge/bridge_id': '8000.x', '/sys/class/net/xenbr0/mtu': '1500' }, refuseMtu);
    expect(await vifHotplugOnline(xs, host, dev, vif)).toEqual({ ifname: 'vif4.0' });
    expect(calls).toEqual([
      ['ip', 'link', 'set', 'dev', 'vif4.0', 'mtu', '9000', 'master', 'xenbr0', 'up'],
      ['ip', 'link', 'set', 'dev', 'vif4.0', 'master', 'xenbr0', 'up'],
    ]);
    expect(await xs.read(`${dev.frontend}/mtu`)).toBe('9000');
    expect(await xs.read(`${dev.backend}/hotplug-status`)).toBe('connected');
  });

  it('a missing bridge or a failing ip command is an error recorded in xenstore', async () => {
    const vif = parseVifSpec('bridge=nobr').vif;
    const dev = vifNodes(4, vif, '00:16:3e:00:00:02');
    await writeDeviceNodes(xs, dev);
    const { host } = fakeHost({}, {});
    await expect(vifHotplugOnline(xs, host, dev, vif)).rejects.toThrow('bridge nobr does not exist');
    expect(await xs.read(`${dev.backend}/hotplug-status`)).toBe('error');
    const vif2 = parseVifSpec('bridge=xenbr0', 1).vif;
    const dev2 = vifNodes(4, vif2, '00:16:3e:00:00:03');
    await writeDeviceNodes(xs, dev2);
    const broken = fakeHost({}, { '/sys/class/net/xenbr0/bridge/bridge_id': '8000.x' }, () => ({ status: 1, stdout: '', stderr: 'Cannot find device "vif4.1"' }));
    await expect(vifHotplugOnline(xs, broken.host, dev2, vif2)).rejects.toThrow(/Cannot find device/);
  });
});
