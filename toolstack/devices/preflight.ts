// Pre-flight checks of a domain's disks and vifs, run before anything is created: a missing image or
// block device, a missing bridge, a duplicated vdev or devid, an image another domain already has with
// one side writable, a setting txl cannot set up. Each error names the field and its value.
import type { ResolvedDisk, VifSpec } from '../config/index.js';
import { DeviceError } from './errors.js';
import { physicalDevice, type HotplugHost } from './hotplug.js';
import type { DeviceRef } from './lifecycle.js';
import { vbdNodes, vifNodes, type DeviceStore } from './nodes.js';

/** A disk as the checks see it, with the field it came from ("disk[0]", or the command line). */
export interface CheckedDisk {
  readonly disk: ResolvedDisk;
  readonly field: string;
}

/** A vif with its MAC decided, and the field it came from. */
export interface CheckedVif {
  readonly vif: VifSpec;
  readonly mac: string;
  readonly field: string;
}

/** Another domain's vbd backend that uses a target, with its mode. */
interface User {
  readonly domid: number;
  readonly vdev: string;
  readonly mode: string;
}

async function usersOf(store: Pick<DeviceStore, 'tryRead' | 'directory'>, target: string, physical: string | undefined): Promise<User[]> {
  const root = '/local/domain/0/backend/vbd';
  const users: User[] = [];
  for (const dom of await store.directory(root).catch(() => [] as string[])) {
    for (const id of await store.directory(`${root}/${dom}`).catch(() => [] as string[])) {
      const path = `${root}/${dom}/${id}`;
      const params = await store.tryRead(`${path}/params`).catch(() => undefined);
      const pd = await store.tryRead(`${path}/physical-device`).catch(() => undefined);
      if (params === target || (physical !== undefined && pd === physical)) {
        users.push({ domid: Number(dom), vdev: (await store.tryRead(`${path}/dev`).catch(() => undefined)) ?? id, mode: (await store.tryRead(`${path}/mode`).catch(() => undefined)) ?? 'r' });
      }
    }
  }
  return users;
}

/**
 * Checks a domain's devices before it is created (or before block-attach/network-attach). `domid` is
 * the domain they are for when it exists, `existing` the devices it already has. Throws DeviceError:
 * TXL_DEV_DUPLICATE, TXL_DEV_TARGET_MISSING, TXL_DEV_IN_USE, TXL_DEV_NO_BRIDGE, TXL_DEV_INVALID.
 */
export async function preflightDevices(
  store: Pick<DeviceStore, 'tryRead' | 'directory'>, host: HotplugHost, disks: readonly CheckedDisk[], vifs: readonly CheckedVif[], domid?: number,
  existing: readonly Pick<DeviceRef, 'kind' | 'devid'>[] = [],
): Promise<void> {
  const seen = new Map<number, string>(existing.filter((d) => d.kind === 'vbd').map((d) => [d.devid, `the disk domain ${domid ?? '?'} already has`]));
  for (const { disk, field } of disks) {
    const before = seen.get(disk.devid);
    if (before !== undefined) {
      throw new DeviceError('TXL_DEV_DUPLICATE', `${field}: vdev=${disk.vdev} is device ${disk.devid}, which ${before} already uses`, {
        details: { field, vdev: disk.vdev, devid: disk.devid }, hint: 'give each disk its own vdev (xvda, xvdb, ...)',
      });
    }
    seen.set(disk.devid, `${field} (vdev=${disk.vdev})`);
    // Settings txl's backends cannot serve (qcow2, qdisk, a driver domain) fail here, not half way.
    vbdNodes(domid ?? 1, disk);
    if (disk.backendDomname !== undefined && disk.backendDomname !== '0' && disk.backendDomname !== 'Domain-0') {
      throw new DeviceError('TXL_DEV_INVALID', `${field}: backend=${disk.backendDomname}: txl serves disks from dom0 only`, { details: { field } });
    }
    if (disk.script !== undefined && !/(^|\/)block$/.test(disk.script)) {
      throw new DeviceError('TXL_DEV_INVALID', `${field}: script=${disk.script}: txl sets disks up natively as the block script does; other scripts are not supported`, {
        details: { field, script: disk.script }, hint: 'remove script= (files become loop devices, block devices are used as they are)',
      });
    }
    if (disk.target === undefined || disk.target === '') {
      if (disk.isCdrom) continue;
      throw new DeviceError('TXL_DEV_TARGET_MISSING', `${field}: vdev=${disk.vdev} has no target`, { details: { field, vdev: disk.vdev }, hint: 'add target=/path/to/image (or a block device)' });
    }
    const st = await host.statPath(disk.target);
    if (!st || st.kind === 'other') {
      throw new DeviceError('TXL_DEV_TARGET_MISSING', `${field}: target=${disk.target} ${st ? 'is neither a block device nor a regular file' : 'does not exist'}`, {
        details: { field, target: disk.target }, hint: 'create the image first (txl image create) or fix the path',
      });
    }
    const users = await usersOf(store, disk.target, st.kind === 'block' ? physicalDevice(st.rdev) : undefined);
    const conflict = users.find((u) => disk.readwrite || u.mode === 'w');
    if (conflict) {
      throw new DeviceError('TXL_DEV_IN_USE', `${field}: target=${disk.target} is already attached to domain ${conflict.domid} as ${conflict.vdev} (${conflict.mode === 'w' ? 'read-write' : 'read-only'}), and ${disk.readwrite ? 'this disk is read-write' : 'that one is read-write'}`, {
        details: { field, target: disk.target, domid: conflict.domid }, hint: 'use access=ro on both, or detach it from the other domain first',
      });
    }
  }
  const vifIds = new Map<number, string>(existing.filter((d) => d.kind === 'vif').map((d) => [d.devid, `the vif domain ${domid ?? '?'} already has`]));
  for (const { vif, mac, field } of vifs) {
    const before = vifIds.get(vif.devid);
    if (before !== undefined) {
      throw new DeviceError('TXL_DEV_DUPLICATE', `${field}: devid ${vif.devid} is already used by ${before}`, { details: { field, devid: vif.devid } });
    }
    vifIds.set(vif.devid, field);
    vifNodes(domid ?? 1, vif, mac);
    if (vif.backend !== undefined && vif.backend !== '0' && vif.backend !== 'Domain-0') {
      throw new DeviceError('TXL_DEV_INVALID', `${field}: backend=${vif.backend}: txl serves vifs from dom0 only`, { details: { field } });
    }
    if (!/(^|\/)vif-bridge$/.test(vif.script)) {
      throw new DeviceError('TXL_DEV_INVALID', `${field}: script=${vif.script}: txl sets vifs up natively as vif-bridge does; other scripts are not supported`, { details: { field, script: vif.script } });
    }
    if ((await host.readSys(`/sys/class/net/${vif.bridge}/bridge/bridge_id`)) === undefined) {
      throw new DeviceError('TXL_DEV_NO_BRIDGE', `${field}: bridge=${vif.bridge} does not exist on this host`, {
        details: { field, bridge: vif.bridge }, hint: `create it (ip link add ${vif.bridge} type bridge) or set bridge= to an existing bridge`,
      });
    }
  }
}
