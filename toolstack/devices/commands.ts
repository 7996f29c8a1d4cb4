// What xl block-attach/-detach/-list and network-attach/-detach/-list do (tools/xl/xl_block.c,
// xl_nic.c over libxl_disk.c / libxl_nic.c), on txl's device code: argument handling as xl's, the -list
// output byte for byte as xl prints it.
import { parseDiskSpec, parseVifSpec, vdevToDevid, type ResolvedDisk, type VifSpec } from '../config/index.js';
import { DeviceError } from './errors.js';
import type { HotplugHost } from './hotplug.js';
import { attachDevice, detachDevice, deviceLabel, domainDevices, listDeviceInfo, type AttachStore, type DeviceInfo, type DeviceRef } from './lifecycle.js';
import { randomXenMac, vbdNodes, vifNodes, type DeviceStore } from './nodes.js';
import { preflightDevices } from './preflight.js';

/** Options of the attach/detach commands. */
export interface DeviceCommandOptions {
  /** Bound on each backend wait in ms. */
  readonly timeoutMs?: number;
  /** MAC source for network-attach without mac= (default Math.random). */
  readonly random?: () => number;
}

/**
 * `block-attach DOMAIN DISK-SPEC-COMPONENT...`: the components form one disk spec (xl passes them to
 * xlu_disk_parse together); checked like a create's disks, then attached. Returns the disk.
 */
export async function blockAttach(store: AttachStore, host: HotplugHost, domid: number, components: readonly string[], opts: DeviceCommandOptions = {}): Promise<ResolvedDisk> {
  const spec = components.join(',');
  const parsed = parseDiskSpec(spec, { source: 'block-attach', field: 'block-attach' });
  const devid = vdevToDevid(parsed.vdev);
  if (devid === undefined) {
    throw new DeviceError('TXL_DEV_INVALID', `block-attach: vdev=${parsed.vdev} is not a virtual disk name`, { details: { vdev: parsed.vdev }, hint: 'use xvdX, hdX, sdX or dNpM' });
  }
  const disk: ResolvedDisk = { ...parsed, devid };
  await preflightDevices(store, host, [{ disk, field: 'block-attach' }], [], domid, await domainDevices(store, domid));
  await attachDevice(store, host, vbdNodes(domid, disk), { disk }, opts);
  return disk;
}

/**
 * `network-attach DOMAIN [KEY=VALUE...]`: one vif from the settings (parse_nic_config), devid the next
 * free one (libxl__device_nextid), a random 00:16:3e MAC when none is given. Returns devid, MAC and the vif.
 */
export async function networkAttach(store: AttachStore, host: HotplugHost, domid: number, settings: readonly string[], opts: DeviceCommandOptions = {}): Promise<{ devid: number; mac: string; vif: VifSpec }> {
  const existing = await domainDevices(store, domid);
  const next = Math.max(-1, ...existing.filter((d) => d.kind === 'vif').map((d) => d.devid)) + 1;
  const { vif } = parseVifSpec(settings.join(','), next, 'network-attach');
  const mac = vif.mac ?? randomXenMac(opts.random);
  await preflightDevices(store, host, [], [{ vif, mac, field: 'network-attach' }], domid, existing);
  await attachDevice(store, host, vifNodes(domid, vif, mac), { vif }, opts);
  return { devid: vif.devid, mac, vif };
}

async function findDevice(store: Pick<DeviceStore, 'tryRead' | 'directory'>, domid: number, kind: 'vbd' | 'vif', match: (d: DeviceRef) => Promise<boolean>, what: string): Promise<DeviceRef> {
  for (const d of await domainDevices(store, domid)) if (d.kind === kind && (await match(d))) return d;
  throw new DeviceError('TXL_DEV_NOT_FOUND', `domain ${domid} has no ${kind === 'vbd' ? 'disk' : 'network device'} ${what}`, {
    details: { domid, device: what }, hint: `see 'txl ${kind === 'vbd' ? 'block' : 'network'}-list ${domid}'`,
  });
}

/**
 * `block-detach [-f] DOMAIN DEVID`: DEVID a vdev (xvdb) or its number (51728). Without -f the guest
 * must release the disk (Closing/Closed) within the timeout (libxl_device_disk_safe_remove); with -f
 * it is torn down at once (libxl_device_disk_destroy).
 */
export async function blockDetach(store: AttachStore, host: HotplugHost, domid: number, which: string, force: boolean, opts: DeviceCommandOptions = {}): Promise<number> {
  const devid = vdevToDevid(which);
  if (devid === undefined) throw new DeviceError('TXL_DEV_NOT_FOUND', `Error: Device ${which} not connected.`, { details: { domid, device: which } });
  const dev = await findDevice(store, domid, 'vbd', async (d) => d.devid === devid, which);
  await detachDevice(store, host, dev, { force: force ? 'now' : 'never', label: deviceLabel(dev, which), ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) });
  return dev.devid;
}

/**
 * `network-detach DOMAIN DEVID|MAC`: a MAC when it has a ':', else a devid (atoi). The guest gets the
 * timeout to let go; then the vif is torn down anyway (libxl_device_nic_remove's forced fallback).
 */
export async function networkDetach(store: AttachStore, host: HotplugHost, domid: number, which: string, opts: DeviceCommandOptions = {}): Promise<number> {
  const dev = which.includes(':')
    ? await findDevice(store, domid, 'vif', async (d) => (await store.tryRead(`${d.libxl}/mac`))?.toLowerCase() === which.toLowerCase(), which)
    : await findDevice(store, domid, 'vif', async (d) => d.devid === (Number.parseInt(which, 10) || 0), which);
  await detachDevice(store, host, dev, { force: 'auto', ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) });
  return dev.devid;
}

const left = (v: string | number, width: number): string => String(v).padEnd(width);
const right = (v: string | number, width: number): string => String(v).padStart(width);

/** xl block-list's header: printf("%-5s %-3s %-6s %-5s %-6s %-8s %-30s\n", ...). */
export const BLOCK_LIST_HEADER = `${left('Vdev', 5)} ${left('BE', 3)} ${left('handle', 6)} ${left('state', 5)} ${left('evt-ch', 6)} ${left('ring-ref', 8)} ${left('BE-path', 30)}\n`;

/** One row of xl block-list: "%-5d %-3d %-6d %-5d %-6d %-8d %-30s\n" (devid, backend, frontend domid as handle...). */
export function formatBlockRow(d: DeviceInfo): string {
  return `${left(d.devid, 5)} ${left(d.backendId, 3)} ${left(d.frontendId, 6)} ${left(d.state, 5)} ${left(d.evtch, 6)} ${left(d.rref, 8)} ${left(d.backend, 30)}\n`;
}

/** xl network-list's header: "%-3s %-2s %-17s %-6s %-5s %-6s %5s/%-5s %-30s\n". */
export const NETWORK_LIST_HEADER = `${left('Idx', 3)} ${left('BE', 2)} ${left('Mac Addr.', 17)} ${left('handle', 6)} ${left('state', 5)} ${left('evt-ch', 6)} ${right('tx-', 5)}/${left('rx-ring-ref', 5)} ${left('BE-path', 30)}\n`;

/** One row of xl network-list: "%-3d %-2d " LIBXL_MAC_FMT "%6d %5d %6d %5d/%-11d %-30s\n". */
export function formatNetworkRow(d: DeviceInfo): string {
  return `${left(d.devid, 3)} ${left(d.backendId, 2)} ${d.mac.toLowerCase()}${right(d.devid, 6)} ${right(d.state, 5)} ${right(d.evtch, 6)} ${right(d.rref, 5)}/${left(d.rrefRx, 11)} ${left(d.backend, 30)}\n`;
}

/** The rows of `domid`'s disks or vifs as xl prints them. */
export async function formatDeviceList(store: Pick<DeviceStore, 'tryRead' | 'directory'>, domid: number, kind: 'vbd' | 'vif'): Promise<string> {
  const rows = await listDeviceInfo(store, domid, kind);
  return rows.map(kind === 'vbd' ? formatBlockRow : formatNetworkRow).join('');
}
