// A device's life on a domain: attach (nodes, InitWait, native hotplug), detach (the Closing/Closed
// handshake of libxl__initiate_device_generic_remove, then nodes and loop device), teardown of what a
// dead or half-built domain left (destroy, rollback), and the devices a domain has.
import type { ResolvedDisk, VifSpec } from '../config/index.js';
import type { XenstoreClient } from '../../xenstore/index.js';
import { DeviceError } from './errors.js';
import {
  defaultVifName, detachLoop, vbdHotplugAdd, vifHotplugOffline, vifHotplugOnline, waitForBackendState, type HotplugHost,
} from './hotplug.js';
import { removeDeviceNodes, removeEmptyBackendDomainDir, writeDeviceNodes, type DeviceNodes, type DeviceStore } from './nodes.js';

/** XenbusStateInitWait, Connected, Closing, Closed (xen/include/public/io/xenbus.h). */
export const XENBUS_INITWAIT = 2;
export const XENBUS_CONNECTED = 4;
export const XENBUS_CLOSING = 5;
export const XENBUS_CLOSED = 6;

/** Default bound on each wait for a backend (libxl: LIBXL_INIT_TIMEOUT / LIBXL_DESTROY_TIMEOUT are 10 s). */
export const DEVICE_TIMEOUT_MS = 20_000;

/** The xenstore operations attach and detach need (watches for the backend state). */
export type AttachStore = DeviceStore & Pick<XenstoreClient, 'watch'>;

/** Where one device of a domain lives in xenstore (enough to tear it down). */
export interface DeviceRef {
  readonly kind: 'vbd' | 'vif';
  readonly domid: number;
  readonly devid: number;
  readonly frontend: string;
  readonly backend: string;
  readonly libxl: string;
}

/** Options of attach and detach. */
export interface DeviceWaitOptions {
  /** Bound on each backend wait (default DEVICE_TIMEOUT_MS). */
  readonly timeoutMs?: number;
  /** Cancels the waits (rollback of a create that failed elsewhere). */
  readonly signal?: AbortSignal;
}

/** A short name of a device for messages: "disk xvda (vbd 51712)", "vif 0". */
export function deviceLabel(dev: Pick<DeviceRef, 'kind' | 'devid'>, vdev?: string): string {
  return dev.kind === 'vbd' ? `disk ${vdev ?? dev.devid} (vbd ${dev.devid})` : `vif ${dev.devid}`;
}

async function waitNamed(store: AttachStore, dev: DeviceRef, state: number, label: string, opts: DeviceWaitOptions): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? DEVICE_TIMEOUT_MS;
  try {
    await waitForBackendState(store, dev.backend, state, timeoutMs, opts.signal);
  } catch (error) {
    if (error instanceof DeviceError && error.code === 'TXL_DEV_TIMEOUT') {
      const now = await store.tryRead(`${dev.backend}/state`).catch(() => undefined);
      throw new DeviceError('TXL_DEV_TIMEOUT', `${label} of domain ${dev.domid}: the backend did not reach state ${state} within ${timeoutMs / 1000} s (state ${now ?? 'missing'})`, {
        cause: error, details: { device: label, domid: dev.domid, backend: dev.backend, state, seen: now ?? '' },
        hint: state === XENBUS_INITWAIT ? 'is the backend driver loaded in dom0 (modprobe xen-blkback / xen-netback)?' : 'the guest did not release the device',
      });
    }
    throw error;
  }
}

/**
 * Second half of attaching a device whose nodes are written: waits for the backend's InitWait (as libxl
 * does before running the hotplug script), then runs the native hotplug step. Resolves when
 * hotplug-status is connected; the loop device (if any) is recorded in the backend's `node`.
 */
export async function hotplugDisk(store: AttachStore, host: HotplugHost, dev: DeviceNodes, disk: ResolvedDisk, opts: DeviceWaitOptions = {}): Promise<{ loop?: string }> {
  await waitNamed(store, dev, XENBUS_INITWAIT, deviceLabel(dev, disk.vdev), opts);
  return vbdHotplugAdd(store, host, dev, disk);
}

/** hotplugDisk's counterpart for a vif (vif-bridge online once netback made vif<domid>.<devid>). */
export async function hotplugVif(store: AttachStore, host: HotplugHost, dev: DeviceNodes, vif: VifSpec, opts: DeviceWaitOptions = {}): Promise<{ ifname: string }> {
  await waitNamed(store, dev, XENBUS_INITWAIT, deviceLabel(dev), opts);
  return vifHotplugOnline(store, host, dev, vif);
}

/**
 * Attaches a device to a domain (block-attach, network-attach): writes its nodes, then hotplug. On
 * failure everything it made is torn down again and the error is rethrown.
 */
export async function attachDevice(
  store: AttachStore, host: HotplugHost, dev: DeviceNodes, spec: { disk: ResolvedDisk } | { vif: VifSpec }, opts: DeviceWaitOptions = {},
): Promise<void> {
  await writeDeviceNodes(store, dev);
  try {
    if ('disk' in spec) await hotplugDisk(store, host, dev, spec.disk, opts);
    else await hotplugVif(store, host, dev, spec.vif, opts);
  } catch (error) {
    await teardownDevice(store, host, dev).catch(() => undefined);
    throw error;
  }
}

/**
 * Removes what a device left, whatever state it is in (idempotent): the vif out of its bridge, the
 * frontend, backend and /libxl nodes, then the loop device recorded in the backend's `node`.
 */
export async function teardownDevice(store: Pick<DeviceStore, 'tryRead' | 'rm' | 'directory'>, host: HotplugHost, dev: DeviceRef): Promise<void> {
  const read = (key: string): Promise<string | undefined> => store.tryRead(`${dev.backend}/${key}`).catch(() => undefined);
  const node = dev.kind === 'vbd' ? await read('node') : undefined;
  const params = dev.kind === 'vbd' ? await read('params') : undefined;
  if (dev.kind === 'vif') await vifHotplugOffline(host, (await read('vifname')) ?? defaultVifName(dev.domid, dev.devid));
  await removeDeviceNodes(store, dev);
  await removeEmptyBackendDomainDir(store, dev.backend);
  if (node) await detachLoop(host, node, params);
}

/**
 * Detaches a device with the Closing/Closed handshake (libxl__initiate_device_generic_remove):
 * online=0 and state=Closing on the backend, then waits for Closed; then tears it down. `force`:
 * 'never' fails on timeout (xl block-detach), 'auto' tears down anyway after the timeout (libxl's
 * forced fallback, xl network-detach), 'now' does not wait (xl block-detach -f).
 */
export async function detachDevice(store: AttachStore, host: HotplugHost, dev: DeviceRef, opts: DeviceWaitOptions & { force?: 'never' | 'auto' | 'now'; label?: string } = {}): Promise<void> {
  const force = opts.force ?? 'never';
  if (force !== 'now' && (await store.tryRead(`${dev.backend}/state`)) !== undefined) {
    await store.transaction(async (tx) => {
      if ((await store.tryRead(`${dev.backend}/state`, tx)) === undefined) return;
      await store.write(`${dev.backend}/online`, '0', tx);
      await store.write(`${dev.backend}/state`, String(XENBUS_CLOSING), tx);
    });
    try {
      await waitNamed(store, dev, XENBUS_CLOSED, opts.label ?? deviceLabel(dev), opts);
    } catch (error) {
      if (!(force === 'auto' && error instanceof DeviceError && error.code === 'TXL_DEV_TIMEOUT')) throw error;
    }
  }
  await teardownDevice(store, host, dev);
}

function refOf(kind: 'vbd' | 'vif', domid: number, devid: number, backend: string): DeviceRef {
  return {
    kind, domid, devid, backend,
    frontend: `/local/domain/${domid}/device/${kind}/${devid}`,
    libxl: `/libxl/${domid}/device/${kind}/${devid}`,
  };
}

/**
 * The vbd and vif devices of a domain, from its frontends, the /libxl copies and dom0's backend
 * directories (so that a half-built domain's devices are found too), in devid order per kind.
 */
export async function domainDevices(store: Pick<DeviceStore, 'tryRead' | 'directory'>, domid: number): Promise<DeviceRef[]> {
  const dir = (path: string): Promise<string[]> => store.directory(path).catch(() => [] as string[]);
  const read = (path: string): Promise<string | undefined> => store.tryRead(path).catch(() => undefined);
  const refs: DeviceRef[] = [];
  for (const kind of ['vbd', 'vif'] as const) {
    const ids = new Set([
      ...(await dir(`/local/domain/${domid}/device/${kind}`)),
      ...(await dir(`/libxl/${domid}/device/${kind}`)),
      ...(await dir(`/local/domain/0/backend/${kind}/${domid}`)),
    ]);
    for (const id of [...ids].filter((i) => /^[0-9]+$/.test(i)).sort((a, b) => Number(a) - Number(b))) {
      const backend = (await read(`/libxl/${domid}/device/${kind}/${id}/backend`))
        ?? (await read(`/local/domain/${domid}/device/${kind}/${id}/backend`))
        ?? `/local/domain/0/backend/${kind}/${domid}/${id}`;
      refs.push(refOf(kind, domid, Number(id), backend));
    }
  }
  return refs;
}

/** Tears down every device of a domain (destroy, rollback); returns what could not be removed. */
export async function teardownDomainDevices(store: Pick<DeviceStore, 'tryRead' | 'directory' | 'rm'>, host: HotplugHost, domid: number): Promise<string[]> {
  const problems: string[] = [];
  for (const dev of (await domainDevices(store, domid)).reverse()) {
    try {
      await teardownDevice(store, host, dev);
    } catch (error) {
      problems.push(`${deviceLabel(dev)}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return problems;
}

/** One row of `block-list` (libxl_device_disk_getinfo) or `network-list` (libxl_device_nic_getinfo); -1 for a missing key. */
export interface DeviceInfo {
  readonly devid: number;
  readonly backendId: number;
  readonly frontendId: number;
  /** Frontend state. */
  readonly state: number;
  readonly evtch: number;
  /** vbd: ring-ref; vif: tx-ring-ref. */
  readonly rref: number;
  /** vif only: rx-ring-ref. */
  readonly rrefRx: number;
  /** vif only: the MAC in /libxl (libxl__nic_from_xenstore). */
  readonly mac: string;
  readonly backend: string;
}

/**
 * The devices of `kind` a domain has, as xl block-list/network-list report them: from the /libxl
 * copies (libxl__device_list), with the frontend's state, event channel and ring refs.
 */
export async function listDeviceInfo(store: Pick<DeviceStore, 'tryRead' | 'directory'>, domid: number, kind: 'vbd' | 'vif'): Promise<DeviceInfo[]> {
  const ids = await store.directory(`/libxl/${domid}/device/${kind}`).catch(() => [] as string[]);
  const num = async (path: string): Promise<number> => {
    const v = await store.tryRead(path).catch(() => undefined);
    // strtoul into an int, as libxl does: a missing key is -1.
    return v === undefined ? -1 : Number.parseInt(v, 10) | 0;
  };
  const rows: DeviceInfo[] = [];
  for (const id of ids) {
    const libxl = `/libxl/${domid}/device/${kind}/${id}`;
    const backend = await store.tryRead(`${libxl}/backend`).catch(() => undefined);
    if (!backend) continue;
    const be = /^\/local\/domain\/([0-9]+)\//.exec(backend);
    if (!be) continue;
    const fe = `/local/domain/${domid}/device/${kind}/${id}`;
    rows.push({
      devid: Number(id), backendId: Number(be[1]), frontendId: domid,
      state: await num(`${fe}/state`), evtch: await num(`${fe}/event-channel`),
      rref: await num(kind === 'vbd' ? `${fe}/ring-ref` : `${fe}/tx-ring-ref`),
      rrefRx: kind === 'vif' ? await num(`${fe}/rx-ring-ref`) : -1,
      mac: kind === 'vif' ? ((await store.tryRead(`${libxl}/mac`).catch(() => undefined)) ?? '00:00:00:00:00:00') : '',
      backend,
    });
  }
  return rows;
}
