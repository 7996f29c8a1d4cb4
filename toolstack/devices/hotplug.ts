// Native hotplug: what /etc/xen/scripts/block and vif-bridge do (tools/hotplug/Linux), without bash.
// vbd: a block device's major:minor, or a file image through a loop device (losetup), written as
// physical-device / physical-device-path / node / hotplug-status; a disk already attached writable
// to another domain is refused (check_sharing). vif: rename, MTU of the bridge, bridge port, up,
// hotplug-status. Failures write hotplug-error and hotplug-status=error like the scripts.
import { readFile, stat } from 'node:fs/promises';
import type { ResolvedDisk, VifSpec } from '../config/index.js';
import type { CommandRunner } from '../../image-tools/runner.js';
import type { XenstoreClient } from '../../xenstore/index.js';
import { DeviceError } from './errors.js';
import type { DeviceNodes, DeviceStore } from './nodes.js';

/** What the hotplug steps touch on the host (real: node:fs and spawn; tests: fakes). */
export interface HotplugHost {
  readonly runner: CommandRunner;
  /** stat -L: block device (with its rdev) or regular file; undefined when missing. */
  statPath(path: string): Promise<{ kind: 'block' | 'file' | 'other'; rdev: number } | undefined>;
  /** Reads a small sysfs file (e.g. /sys/class/net/xenbr0/mtu); undefined when missing. */
  readSys(path: string): Promise<string | undefined>;
}

/** The real host: node:fs for stat and sysfs, the given runner for losetup and ip. */
export function realHotplugHost(runner: CommandRunner): HotplugHost {
  return {
    runner,
    statPath: async (path) => {
      try {
        const s = await stat(path);
        return { kind: s.isBlockDevice() ? 'block' : s.isFile() ? 'file' : 'other', rdev: s.rdev };
      } catch {
        return undefined;
      }
    },
    readSys: async (path) => readFile(path, 'utf8').then((t) => t.trim(), () => undefined),
  };
}

/** Linux dev_t -> major, minor (glibc gnu_dev_major/minor). */
export function splitDev(rdev: number): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return { major, minor };
}

/** `stat -L -c %t:%T`: hex major:minor without padding, as the block script writes physical-device. */
export function physicalDevice(rdev: number): string {
  const { major, minor } = splitDev(rdev);
  return `${major.toString(16)}:${minor.toString(16)}`;
}

type HotplugStore = DeviceStore & Pick<XenstoreClient, 'watch'>;

async function fail(store: DeviceStore, backend: string, message: string, details: Record<string, string | number>): Promise<never> {
  await store.write(`${backend}/hotplug-error`, message).catch(() => undefined);
  await store.write(`${backend}/hotplug-status`, 'error').catch(() => undefined);
  throw new DeviceError('TXL_DEV_HOTPLUG', message, { details: { backend, ...details } });
}

/**
 * Waits until `<backend>/state` reaches `state` (libxl waits for InitWait = 2 before running the
 * hotplug script; blkback/netback get there as soon as the backend directory appears).
 */
export async function waitForBackendState(store: HotplugStore, backend: string, state: number, timeoutMs = 10_000, signal?: AbortSignal): Promise<void> {
  const watch = store.watch(`${backend}/state`, `txl-be-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  const it = watch[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const value = await store.tryRead(`${backend}/state`);
      if (value !== undefined && Number(value) >= state) return;
      const left = deadline - Date.now();
      if (left <= 0) break;
      if (signal?.aborted) break;
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const r = await Promise.race([
        it.next(),
        new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), left))),
        new Promise<'timeout'>((res) => signal?.addEventListener('abort', (onAbort = () => res('timeout')), { once: true })),
      ]);
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      if (r !== 'timeout' && r.done) break;
    }
  } finally {
    await watch.close().catch(() => undefined);
  }
  if (signal?.aborted) throw new DeviceError('TXL_DEV_TIMEOUT', `waiting for ${backend}/state to reach ${state} was cancelled`, { details: { backend, state } });
  throw new DeviceError('TXL_DEV_TIMEOUT', `${backend}/state did not reach ${state} within ${timeoutMs / 1000} s`, {
    details: { backend, state }, hint: 'Is the backend driver loaded (xen-blkback / xen-netback)?',
  });
}

/** Other vbd backends of backend domain `backendDomid` that use `physical` (major:minor) or `params`, with their mode. */
async function usersOf(store: DeviceStore, dev: DeviceNodes, physical: string | undefined, params: string): Promise<{ path: string; mode: string }[]> {
  const root = `/local/domain/${dev.backendDomid}/backend/vbd`;
  const users: { path: string; mode: string }[] = [];
  for (const dom of await store.directory(root).catch(() => [] as string[])) {
    for (const id of await store.directory(`${root}/${dom}`).catch(() => [] as string[])) {
      const path = `${root}/${dom}/${id}`;
      if (path === dev.backend) continue;
      const pd = await store.tryRead(`${path}/physical-device`);
      const pp = await store.tryRead(`${path}/params`);
      if ((physical !== undefined && pd === physical) || pp === params) users.push({ path, mode: (await store.tryRead(`${path}/mode`)) ?? 'r' });
    }
  }
  return users;
}

/**
 * `block add` for a vbd whose nodes were written: stat the target; a block device is used as is, a
 * regular file gets a loop device (`losetup -f --show [-r] FILE`, recorded in `node`); writes
 * physical-device (hex major:minor), physical-device-path and hotplug-status=connected. Refuses a
 * target another domain uses when either side is writable. Returns the loop device, if any.
 */
export async function vbdHotplugAdd(store: DeviceStore, host: HotplugHost, dev: DeviceNodes, disk: ResolvedDisk): Promise<{ loop?: string }> {
  const target = disk.target;
  if (!target) return fail(store, dev.backend, `disk ${disk.vdev} has no target`, { vdev: disk.vdev });
  const st = await host.statPath(target);
  if (!st || st.kind === 'other') {
    return fail(store, dev.backend, `${target} does not exist or is not a block device or a regular file`, { target });
  }
  const writable = disk.readwrite;
  const mine = st.kind === 'block' ? physicalDevice(st.rdev) : undefined;
  const users = await usersOf(store, dev, mine, target);
  const conflict = users.find((u) => writable || u.mode === 'w');
  if (conflict) {
    return fail(store, dev.backend, `${target} is already in use by another domain (${conflict.path}, mode ${conflict.mode}), and one of them writes to it`, { target, other: conflict.path });
  }
  let device = target;
  let loop: string | undefined;
  if (st.kind === 'file') {
    const r = await host.runner.run(['losetup', '-f', '--show', ...(writable ? [] : ['-r']), target]);
    loop = r.stdout.trim();
    if (r.status !== 0 || !loop.startsWith('/dev/')) {
      return fail(store, dev.backend, `losetup of ${target} failed: ${(r.stderr || r.stdout).trim()}`, { target });
    }
    device = loop;
    await store.write(`${dev.backend}/node`, loop);
  }
  const dst = await host.statPath(device);
  if (!dst || dst.kind !== 'block') {
    if (loop) await host.runner.run(['losetup', '-d', loop]);
    return fail(store, dev.backend, `${device} is not a block device`, { device });
  }
  await store.write(`${dev.backend}/physical-device`, physicalDevice(dst.rdev));
  await store.write(`${dev.backend}/physical-device-path`, device);
  await store.write(`${dev.backend}/hotplug-status`, 'connected');
  return loop ? { loop } : {};
}

/** `block remove`: detaches the loop device recorded in `node` (idempotent). */
export async function vbdHotplugRemove(store: Pick<DeviceStore, 'tryRead'>, host: HotplugHost, dev: Pick<DeviceNodes, 'backend'>): Promise<void> {
  const node = await store.tryRead(`${dev.backend}/node`);
  if (node) await detachLoop(host, node, await store.tryRead(`${dev.backend}/params`));
}

/**
 * `vif-bridge online` for a vif whose backend reached InitWait (netback made vif<domid>.<devid>):
 * rename to vifname=, MTU of the bridge, bridge port, link up, hotplug-status=connected. A missing
 * bridge is an error naming it.
 */
export async function vifHotplugOnline(store: DeviceStore, host: HotplugHost, dev: DeviceNodes, vif: VifSpec): Promise<{ ifname: string }> {
  const bridge = vif.bridge;
  if ((await host.readSys(`/sys/class/net/${bridge}/bridge/bridge_id`)) === undefined) {
    return fail(store, dev.backend, `bridge ${bridge} does not exist (vif ${vif.devid})`, { bridge });
  }
  let ifname = `vif${dev.domid}.${dev.devid}`;
  const ip = async (argv: string[]): Promise<void> => {
    const r = await host.runner.run(['ip', ...argv]);
    if (r.status !== 0) await fail(store, dev.backend, `ip ${argv.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`, { ifname });
  };
  if (vif.vifname && vif.vifname !== ifname) {
    await ip(['link', 'set', 'dev', ifname, 'name', vif.vifname]);
    ifname = vif.vifname;
  }
  // set_mtu (xen-network-common.sh): the vif's configured MTU (the backend's `mtu`, written when it is
  // not 1500), else the bridge's; written to the frontend's `mtu` too. An MTU the interface refuses is
  // ignored, as the script does (`|| :`). MTU, bridge port and link up go in one `ip link set` (one
  // netlink request) when they can: each process started costs a fork, ~0.3 s in the lab's dom0.
  const configured = await store.tryRead(`${dev.backend}/mtu`);
  const mtu = configured ?? (await host.readSys(`/sys/class/net/${bridge}/mtu`));
  const port = ['master', bridge, 'up'];
  if (mtu && /^\d+$/.test(mtu) && Number(mtu) > 0) {
    const r = await host.runner.run(['ip', 'link', 'set', 'dev', ifname, 'mtu', mtu, ...port]);
    if (r.status !== 0) await ip(['link', 'set', 'dev', ifname, ...port]);
    await store.write(`${dev.frontend}/mtu`, mtu);
  } else {
    await ip(['link', 'set', 'dev', ifname, ...port]);
  }
  await store.write(`${dev.backend}/hotplug-status`, 'connected');
  return { ifname };
}

/** The default backend interface name of a vif (NETBACK_NIC_NAME, libxl_nic.c): vif<domid>.<devid>. */
export function defaultVifName(domid: number, devid: number): string {
  return `vif${domid}.${devid}`;
}

/**
 * `vif-bridge offline`: takes the interface out of its bridge and down, if it still exists (netback
 * removes it when the backend goes away; idempotent). A command failing while the interface still
 * exists is an error.
 */
export async function vifHotplugOffline(host: HotplugHost, ifname: string): Promise<void> {
  if ((await host.readSys(`/sys/class/net/${ifname}/ifindex`)) === undefined) return;
  for (const argv of [['link', 'set', 'dev', ifname, 'down'], ['link', 'set', 'dev', ifname, 'nomaster']]) {
    const r = await host.runner.run(['ip', ...argv]);
    if (r.status !== 0 && (await host.readSys(`/sys/class/net/${ifname}/ifindex`)) !== undefined) {
      throw new DeviceError('TXL_DEV_HOTPLUG', `ip ${argv.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`, { details: { ifname } });
    }
  }
}

/** How long detachLoop waits for the kernel to free a loop device blkback still held (default 10 s). */
export interface LoopReleaseOptions {
  readonly releaseTimeoutMs?: number;
  readonly pollMs?: number;
}

/**
 * Detaches loop device `node` if it is still bound to `backing` (when given): a loop device that is
 * already free, or that now serves another file, is left alone (idempotent). While blkback still
 * holds it open, `losetup -d` only marks it LO_FLAGS_AUTOCLEAR and the kernel frees it when blkback
 * lets go, which happens asynchronously once the backend's xenstore directory is gone: wait (bounded)
 * for that, so that when destroy returns the image is free for the next user, as after xl's block
 * script. A device still held after the wait stays marked for autoclear (not an error: nothing else
 * can be done, and it goes when blkback closes it).
 */
export async function detachLoop(host: HotplugHost, node: string, backing?: string, opts: LoopReleaseOptions = {}): Promise<void> {
  const name = /^\/dev\/(loop[0-9]+)$/.exec(node)?.[1];
  if (!name) return;
  const backingFile = `/sys/block/${name}/loop/backing_file`;
  const bound = await host.readSys(backingFile);
  if (bound === undefined) return;
  if (backing !== undefined && bound !== backing && !bound.startsWith(`${backing} `)) return;
  const r = await host.runner.run(['losetup', '-d', node]);
  if (r.status !== 0 && (await host.readSys(backingFile)) !== undefined) {
    throw new DeviceError('TXL_DEV_HOTPLUG', `losetup -d ${node} failed: ${(r.stderr || r.stdout).trim()}`, { details: { node } });
  }
  const deadline = Date.now() + (opts.releaseTimeoutMs ?? 10_000);
  while ((await host.readSys(backingFile)) !== undefined && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, opts.pollMs ?? 50));
  }
}
