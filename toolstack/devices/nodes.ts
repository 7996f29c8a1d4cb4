// The xenstore trees of a PV disk (vbd) and network interface (vif), exactly as libxl 4.17 writes
// them (libxl_disk.c device_disk_add, libxl_nic.c libxl__set_xenstore_nic, libxl_device.c
// libxl__device_add_async and libxl__device_generic_add): planned as plain data, written in one
// transaction, removed again by path.
import type { ResolvedDisk, VifSpec } from '../config/index.js';
import type { XenstoreClient, XsPermission } from '../../xenstore/index.js';
import { DeviceError } from './errors.js';

/** XenbusStateInitialising (xen/include/public/io/xenbus.h). */
export const XENBUS_INITIALISING = 1;
/** Scripts live here (libxl__xen_script_dir_path, Debian: /etc/xen/scripts). */
export const XEN_SCRIPT_DIR = '/etc/xen/scripts';
/** XEN_IO_PROTO_ABI_X86_64: the frontend protocol libxl writes for 64-bit PV guests. */
export const PROTOCOL_X86_64 = 'x86_64-abi';
/** LIBXL_DEVICE_NIC_MTU_DEFAULT. */
export const NIC_MTU_DEFAULT = 1500;

/** One device's xenstore tree: paths and ordered key/value lists, as libxl__device_generic_add takes them. */
export interface DeviceNodes {
  readonly kind: 'vbd' | 'vif';
  readonly domid: number;
  readonly devid: number;
  readonly backendDomid: number;
  /** /local/domain/<domid>/device/<kind>/<devid> */
  readonly frontend: string;
  /** /local/domain/<backend>/backend/<kind>/<domid>/<devid> */
  readonly backend: string;
  /** /libxl/<domid>/device/<kind>/<devid> */
  readonly libxl: string;
  /** Backend keys in libxl's order (the `frontend` key is written first, separately). */
  readonly back: readonly (readonly [string, string])[];
  /** Frontend keys (guest-owned: n<domid> r<backend>), after `backend`. */
  readonly front: readonly (readonly [string, string])[];
  /** Read-only frontend keys (n<backend> r<domid>), e.g. a vif's mtu. */
  readonly roFront: readonly (readonly [string, string])[];
}

const absScript = (script: string): string => (script.startsWith('/') ? script : `${XEN_SCRIPT_DIR}/${script}`);

function paths(kind: 'vbd' | 'vif', domid: number, devid: number, backendDomid: number): Pick<DeviceNodes, 'frontend' | 'backend' | 'libxl'> {
  return {
    frontend: `/local/domain/${domid}/device/${kind}/${devid}`,
    backend: `/local/domain/${backendDomid}/backend/${kind}/${domid}/${devid}`,
    libxl: `/libxl/${domid}/device/${kind}/${devid}`,
  };
}

/** Options shared by the planners. */
export interface DeviceNodeOptions {
  /** The back-end domain (default 0). */
  readonly backendDomid?: number;
}

/**
 * A PV disk's tree (backend type phy: blkback; `file:` images become loop devices in the hotplug
 * step, as xl's block script does). Keys and order as device_disk_add writes them for a PV guest.
 */
export function vbdNodes(domid: number, disk: ResolvedDisk, opts: DeviceNodeOptions & { protocol?: string } = {}): DeviceNodes {
  const backendDomid = opts.backendDomid ?? 0;
  if (disk.backendType !== 'phy' && disk.backendType !== 'unknown') {
    throw new DeviceError('TXL_DEV_INVALID', `disk ${disk.vdev}: backendtype=${disk.backendType} is not supported by txl (only phy: blkback)`, {
      details: { vdev: disk.vdev, backendType: disk.backendType },
    });
  }
  if (disk.format !== 'raw' && disk.format !== 'empty' && disk.format !== 'unknown') {
    throw new DeviceError('TXL_DEV_INVALID', `disk ${disk.vdev}: format=${disk.format} needs qemu's qdisk backend, which txl does not run`, { details: { vdev: disk.vdev } });
  }
  const back: [string, string][] = [
    ['params', disk.target ?? ''],
    ['script', absScript(disk.script ?? 'block')],
    ['frontend-id', String(domid)],
    ['online', '1'],
    ['removable', disk.removable ? '1' : '0'],
    ['bootable', '1'],
    ['state', String(XENBUS_INITIALISING)],
    ['dev', disk.vdev],
    ['type', 'phy'],
    ['mode', disk.readwrite ? 'w' : 'r'],
    ['device-type', disk.isCdrom ? 'cdrom' : 'disk'],
  ];
  if (disk.directIoSafe) back.push(['direct-io-safe', '1']);
  // libxl__device_disk_setdefault: discard defaults to !readonly.
  back.push(['discard-enable', (disk.discard ?? disk.readwrite) ? '1' : '0']);
  back.push(['specification', disk.specification === 'virtio' ? 'virtio' : 'xen']);
  const front: [string, string][] = [
    ['backend-id', String(backendDomid)],
    ['state', String(XENBUS_INITIALISING)],
    ['virtual-device', String(disk.devid)],
    ['device-type', disk.isCdrom ? 'cdrom' : 'disk'],
    // libxl__device_disk_setdefault: trusted defaults to true.
    ['trusted', (disk.trusted ?? true) ? '1' : '0'],
    ['protocol', opts.protocol ?? PROTOCOL_X86_64],
  ];
  return { kind: 'vbd', domid, devid: disk.devid, backendDomid, ...paths('vbd', domid, disk.devid, backendDomid), back, front, roFront: [] };
}

/** A MAC in xl's form, 00:16:3e:xx:xx:xx lower case. */
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** libxl's random MAC for a vif without mac=: the Xen OUI 00:16:3e and three random bytes. */
export function randomXenMac(random: () => number = Math.random): string {
  const byte = (): string => Math.floor(random() * 256).toString(16).padStart(2, '0');
  return `00:16:3e:${byte()}:${byte()}:${byte()}`;
}

/**
 * A vif's tree: the generic keys of libxl__device_add_async then libxl__set_xenstore_nic's. `mac`
 * must be decided by the caller when the spec has none (randomXenMac), as libxl does at create time.
 */
export function vifNodes(domid: number, vif: VifSpec, mac: string, opts: DeviceNodeOptions = {}): DeviceNodes {
  const backendDomid = opts.backendDomid ?? 0;
  const lower = mac.toLowerCase();
  if (!MAC.test(lower)) throw new DeviceError('TXL_DEV_INVALID', `vif ${vif.devid}: '${mac}' is not a MAC address (xx:xx:xx:xx:xx:xx)`, { details: { devid: vif.devid } });
  if (vif.type !== 'vif') throw new DeviceError('TXL_DEV_INVALID', `vif ${vif.devid}: type=${vif.type} needs an emulated NIC (HVM); PV guests use type=vif`, { details: { devid: vif.devid } });
  const back: [string, string][] = [
    ['frontend-id', String(domid)],
    ['online', '1'],
    ['state', String(XENBUS_INITIALISING)],
    ['script', absScript(vif.script)],
  ];
  if (vif.vifname) back.push(['vifname', vif.vifname]);
  back.push(['mac', lower]);
  if (vif.ip) back.push(['ip', vif.ip]);
  if (vif.gatewaydev) back.push(['gatewaydev', vif.gatewaydev]);
  if (vif.rate && vif.rate.intervalUsecs > 0) back.push(['rate', `${vif.rate.bytesPerInterval},${vif.rate.intervalUsecs}`]);
  if (vif.mtu !== NIC_MTU_DEFAULT) back.push(['mtu', String(vif.mtu)]);
  // libxl__set_xenstore_nic ends with an empty hotplug-status, which the hotplug then sets (xl's
  // tree in the lab: the /libxl copy keeps the empty value).
  back.push(['bridge', vif.bridge], ['handle', String(vif.devid)], ['type', 'vif'], ['hotplug-status', '']);
  const front: [string, string][] = [
    ['backend-id', String(backendDomid)],
    ['state', String(XENBUS_INITIALISING)],
    ['handle', String(vif.devid)],
    ['mac', lower],
    // libxl__device_nic_setdefault: trusted defaults to true.
    ['trusted', (vif.trusted ?? true) ? '1' : '0'],
  ];
  return { kind: 'vif', domid, devid: vif.devid, backendDomid, ...paths('vif', domid, vif.devid, backendDomid), back, front, roFront: [['mtu', String(vif.mtu)]] };
}

/** The xenstore operations device set-up uses. */
export type DeviceStore = Pick<XenstoreClient, 'tryRead' | 'write' | 'mkdir' | 'rm' | 'setPermissions' | 'transaction' | 'directory'>;

/**
 * libxl__device_generic_add in one transaction (retried on EAGAIN): refuses a device whose frontend
 * or backend exists (ERROR_DEVICE_EXISTS); writes the libxl copy, the frontend (n<domid> r<be>) with
 * `backend` and its keys, read-only frontend keys (n<be> r<domid>), and the backend (n<be> r<domid>)
 * with `frontend` and its keys; then copies the backend keys under /libxl.
 *
 * The backend's per-domain folder (backend/vbd/<domid>) is made before the transaction, not in it:
 * making it adds a child to backend/vbd, which every domain's devices share, and xenstored fails the
 * commit of every other transaction that touched backend/vbd meanwhile. With it inside, concurrent
 * creates kept retrying each other's device transactions (ten concurrent creates with a disk and a vif
 * in the lab: addDisk 4-23 s each). The writes are sent at once (xenstored answers one connection's
 * requests in order), so the transaction is open for one round trip instead of one per node.
 */
export async function writeDeviceNodes(store: DeviceStore, dev: DeviceNodes): Promise<void> {
  const frontPerms: XsPermission[] = [{ domid: dev.domid, access: 'n' }, { domid: dev.backendDomid, access: 'r' }];
  const backPerms: XsPermission[] = [{ domid: dev.backendDomid, access: 'n' }, { domid: dev.domid, access: 'r' }];
  // Made as the transaction would have made it (a new node takes its parent's permissions).
  await store.mkdir(backendDomainDir(dev.backend));
  try {
    await store.transaction(async (tx) => {
      // libxl__device_exists: the backend's state or the frontend's.
      const [backState, frontState] = await Promise.all([store.tryRead(`${dev.backend}/state`, tx), store.tryRead(`${dev.frontend}/state`, tx)]);
      if (backState !== undefined || frontState !== undefined) {
        throw new DeviceError('TXL_DEV_EXISTS', `${dev.kind} ${dev.devid} of domain ${dev.domid} already exists in xenstore`, {
          details: { frontend: dev.frontend, backend: dev.backend },
        });
      }
      const rm = (path: string): Promise<void> => store.rm(path, tx).catch(() => undefined);
      await Promise.all([
        rm(dev.libxl),
        store.write(`${dev.libxl}/frontend`, dev.frontend, tx),
        store.write(`${dev.libxl}/backend`, dev.backend, tx),

        rm(dev.frontend),
        store.mkdir(dev.frontend, tx),
        store.setPermissions(dev.frontend, frontPerms, tx),
        store.write(`${dev.frontend}/backend`, dev.backend, tx),
        ...[...dev.front].flatMap(([k, v]) => [store.write(`${dev.frontend}/${k}`, v, tx), store.setPermissions(`${dev.frontend}/${k}`, frontPerms, tx)]),
        ...[...dev.roFront].flatMap(([k, v]) => [store.write(`${dev.frontend}/${k}`, v, tx), store.setPermissions(`${dev.frontend}/${k}`, backPerms, tx)]),

        rm(dev.backend),
        store.mkdir(dev.backend, tx),
        store.setPermissions(dev.backend, backPerms, tx),
        store.write(`${dev.backend}/frontend`, dev.frontend, tx),
        ...[...dev.back].map(([k, v]) => store.write(`${dev.backend}/${k}`, v, tx)),
        ...[...dev.back].map(([k, v]) => store.write(`${dev.libxl}/${k}`, v, tx)),
      ]);
    });
  } catch (error) {
    // Nothing of this device was committed: the per-domain folder goes too if no other device is in it.
    await removeEmptyBackendDomainDir(store, dev.backend);
    throw error;
  }
}

/** The backend's per-domain folder: /local/domain/<be>/backend/<kind>/<domid> of .../<domid>/<devid>. */
function backendDomainDir(backend: string): string {
  return backend.slice(0, backend.lastIndexOf('/'));
}

/** libxl__xs_path_cleanup: a backend's per-domain folder (backend/vbd|vif/<domid>) goes with its last device. */
export async function removeEmptyBackendDomainDir(store: Pick<DeviceStore, 'directory' | 'rm'>, backend: string): Promise<void> {
  const dir = backendDomainDir(backend);
  if (/\/backend\/(vbd|vif)\/[0-9]+$/.test(dir) && (await store.directory(dir).catch(() => ['?'])).length === 0) {
    await store.rm(dir).catch(() => undefined);
  }
}

/** Removes a device's frontend, backend and libxl directories (idempotent). */
export async function removeDeviceNodes(store: Pick<DeviceStore, 'rm'>, dev: Pick<DeviceNodes, 'frontend' | 'backend' | 'libxl'>): Promise<void> {
  for (const path of [dev.frontend, dev.backend, dev.libxl]) await store.rm(path).catch(() => undefined);
}
