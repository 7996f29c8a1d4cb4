// The domain configuration as libxl keeps it in /var/lib/xen/userdata-d.<domid>.<uuid>.libxl-json and
// as `xl list -l` prints it: libxl_domain_config in libxl's generated JSON (libxl_types.idl through
// gentypes.py: fields in IDL order, a field left at its default is not written) and yajl's beautified
// layout (4-space indent, an empty map or array still spans lines). txl writes the same file for the
// guests it creates, so `xl list -l` and `txl list -l` print them alike, and reads xl's.
// Which values appear was checked against xl 4.17 in the lab (a PV guest with a disk and a vif).
import type { DiskSpec } from './disk.js';
import type { DomainConfig, ShutdownAction } from './domain.js';
import type { VifSpec } from './vif.js';

/** A JSON value as libxl's generator writes it (integers only; no floats in libxl_domain_config). */
export type LibxlJson = string | number | boolean | null | readonly LibxlJson[] | { readonly [key: string]: LibxlJson };
type JsonMap = { [key: string]: LibxlJson };

/** libxl_types.idl @ stable-4.17: field order of the structs txl writes or updates. */
const FIELD_ORDER: Readonly<Record<string, readonly string[]>> = {
  domain_config: [
    'c_info', 'b_info', 'disks', 'nics', 'pcidevs', 'rdms', 'dtdevs', 'vfbs', 'vkbs', 'vtpms', 'p9s', 'pvcallsifs', 'vdispls',
    'vsnds', 'channels', 'usbctrls', 'usbdevs', 'on_poweroff', 'on_reboot', 'on_watchdog', 'on_crash', 'on_soft_reset',
  ],
  c_info: [
    'type', 'hap', 'oos', 'ssidref', 'ssid_label', 'name', 'domid', 'uuid', 'xsdata', 'platformdata', 'poolid', 'pool_name',
    'run_hotplug_scripts', 'driver_domain', 'passthrough', 'xend_suspend_evtchn_compat',
  ],
  b_info: [
    'max_vcpus', 'avail_vcpus', 'cpumap', 'nodemap', 'vcpu_hard_affinity', 'vcpu_soft_affinity', 'numa_placement', 'tsc_mode',
    'max_memkb', 'target_memkb', 'video_memkb', 'shadow_memkb', 'iommu_memkb', 'rtc_timeoffset', 'exec_ssidref', 'exec_ssid_label',
    'localtime', 'disable_migrate', 'cpuid', 'blkdev_start', 'vnuma_nodes', 'max_grant_frames', 'max_maptrack_frames',
    'max_grant_version', 'device_model_version', 'device_model_stubdomain', 'stubdomain_memkb', 'stubdomain_kernel',
    'stubdomain_cmdline', 'stubdomain_ramdisk', 'device_model', 'device_model_ssidref', 'device_model_ssid_label',
    'device_model_user', 'extra', 'extra_pv', 'extra_hvm', 'sched_params', 'ioports', 'irqs', 'iomem', 'claim_mode',
    'event_channels', 'kernel', 'cmdline', 'ramdisk', 'device_tree', 'acpi', 'bootloader', 'bootloader_args', 'timer_mode',
    'nested_hvm', 'apic', 'dm_restrict', 'tee', 'type.hvm', 'type.pv', 'type.pvh', 'arch_arm', 'arch_x86', 'altp2m',
    'vmtrace_buf_kb', 'vpmu',
  ],
  // libxl_domain_sched_params.
  sched_params: ['sched', 'weight', 'cap', 'period', 'slice', 'latency', 'extratime', 'budget'],
  disk: [
    'backend_domid', 'backend_domname', 'pdev_path', 'vdev', 'backend', 'format', 'script', 'removable', 'readwrite', 'is_cdrom',
    'direct_io_safe', 'discard_enable', 'specification', 'transport', 'irq', 'base', 'colo_enable', 'colo_restore_enable',
    'colo_host', 'colo_port', 'colo_export', 'active_disk', 'hidden_disk', 'trusted',
  ],
  nic: [
    'backend_domid', 'backend_domname', 'devid', 'mtu', 'model', 'mac', 'ip', 'bridge', 'ifname', 'script', 'nictype',
    'rate_bytes_per_interval', 'rate_interval_usecs', 'gatewaydev',
  ],
};

/** Puts a map's keys in IDL order (keys the table does not know keep their order, after the known ones). */
function ordered(map: { readonly [key: string]: LibxlJson }, struct: keyof typeof FIELD_ORDER): JsonMap {
  const order = FIELD_ORDER[struct]!;
  const rank = (k: string): number => {
    const i = order.indexOf(k);
    return i < 0 ? order.length : i;
  };
  const keys = Object.keys(map).sort((a, b) => rank(a) - rank(b));
  return Object.fromEntries(keys.map((k) => [k, map[k]!]));
}

/** Re-orders a whole libxl_domain_config (after values were updated in place). */
export function orderDomainConfig(config: { readonly [key: string]: LibxlJson }): JsonMap {
  const out = ordered(config, 'domain_config');
  const map = (v: LibxlJson | undefined): v is { readonly [key: string]: LibxlJson } => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (map(out.c_info)) out.c_info = ordered(out.c_info, 'c_info');
  if (map(out.b_info)) {
    const b = ordered(out.b_info, 'b_info');
    if (map(b.sched_params)) b.sched_params = ordered(b.sched_params, 'sched_params');
    out.b_info = b;
  }
  for (const [key, struct] of [['disks', 'disk'], ['nics', 'nic']] as const) {
    const list = out[key];
    if (Array.isArray(list)) out[key] = list.map((d: LibxlJson) => (map(d) ? ordered(d, struct) : d));
  }
  return out;
}

/** libxl_action_on_shutdown names (libxl_types.idl); DESTROY is the default and is not written. */
const ACTION: Readonly<Record<ShutdownAction, string>> = {
  destroy: 'destroy', restart: 'restart', 'rename-restart': 'restart_rename', preserve: 'preserve',
  'coredump-destroy': 'coredump_destroy', 'coredump-restart': 'coredump_restart', 'soft-reset': 'soft_reset',
};

/** libxl's DOMID_INVALID as c_info.domid holds it for a domain xl did not ask a domid for. */
const INVALID_DOMID = 4294967295;

/**
 * The libxl_domain_config libxl 4.17 saves for a PV guest created from `config`, with the MACs the
 * vifs really got (`macs[i]` for `config.vifs[i]`). Values xl leaves at their defaults are omitted,
 * as libxl's generator does; a vif's script and mtu appear only when they differ from the defaults
 * (txl's resolved config does not keep whether they were written out).
 */
export function libxlDomainConfig(config: DomainConfig, macs: readonly (string | undefined)[] = []): JsonMap {
  const b: JsonMap = {
    max_vcpus: config.maxvcpus,
    avail_vcpus: Array.from({ length: config.vcpus }, (_, i) => i),
    max_memkb: config.maxmemMiB * 1024,
    target_memkb: config.memoryMiB * 1024,
    video_memkb: 0,
    sched_params: {},
    claim_mode: 'True',
  };
  if (config.kernel !== undefined) b.kernel = config.kernel;
  if (config.cmdline !== undefined) b.cmdline = config.cmdline;
  if (config.ramdisk !== undefined) b.ramdisk = config.ramdisk;
  if (config.bootloader !== undefined) b.bootloader = config.bootloader;
  if (config.bootloaderArgs.length) b.bootloader_args = [...config.bootloaderArgs];
  b['type.pv'] = {};
  b.arch_arm = {};
  b.arch_x86 = { msr_relaxed: 'False' };

  const disks = config.disks.map(libxlDiskJson);
  const nics = config.vifs.map((v, i) => libxlNicJson(v, macs[i]));

  const out: JsonMap = {
    c_info: { type: 'pv', name: config.name, domid: INVALID_DOMID, uuid: config.uuid, run_hotplug_scripts: 'True' },
    b_info: b,
  };
  if (disks.length) out.disks = disks;
  if (nics.length) out.nics = nics;
  const actions: [string, ShutdownAction][] = [
    ['on_poweroff', config.onPoweroff], ['on_reboot', config.onReboot], ['on_watchdog', config.onWatchdog],
    ['on_crash', config.onCrash], ['on_soft_reset', config.onSoftReset],
  ];
  for (const [key, action] of actions) if (action !== 'destroy') out[key] = ACTION[action];
  return orderDomainConfig(out);
}

/** A disk as libxl_device_disk in the saved config (xlu_disk_parse's values; libxl's few defaults). */
export function libxlDiskJson(d: DiskSpec): JsonMap {
  const disk: JsonMap = {};
  if (d.backendDomname !== undefined) disk.backend_domname = d.backendDomname;
  if (d.target !== undefined) disk.pdev_path = d.target;
  disk.vdev = d.vdev;
  if (d.backendType !== 'unknown') disk.backend = d.backendType;
  if (d.format !== 'unknown') disk.format = d.format;
  if (d.script !== undefined) disk.script = d.script;
  if (d.removable) disk.removable = 1;
  if (d.readwrite) disk.readwrite = 1;
  if (d.isCdrom) disk.is_cdrom = 1;
  if (d.directIoSafe) disk.direct_io_safe = 'True';
  if (d.discard !== undefined) disk.discard_enable = d.discard ? 'True' : 'False';
  if (d.specification === 'virtio') disk.specification = 'virtio';
  if (d.coloEnable !== undefined) disk.colo_enable = d.coloEnable ? 'True' : 'False';
  disk.colo_restore_enable = 'False';
  if (d.trusted !== undefined) disk.trusted = d.trusted ? 'True' : 'False';
  return ordered(disk, 'disk');
}

/** A vif as libxl_device_nic in the saved config, with the MAC it really got. */
export function libxlNicJson(v: VifSpec, chosenMac?: string): JsonMap {
  const nic: JsonMap = { devid: v.devid };
  if (v.backend !== undefined) nic.backend_domname = v.backend;
  if (v.mtu !== 1500) nic.mtu = v.mtu;
  if (v.model !== undefined) nic.model = v.model;
  const mac = chosenMac ?? v.mac;
  if (mac !== undefined) nic.mac = mac;
  if (v.ip !== undefined) nic.ip = v.ip;
  nic.bridge = v.bridge;
  if (v.vifname !== undefined) nic.ifname = v.vifname;
  if (v.script !== 'vif-bridge' && v.script !== '/etc/xen/scripts/vif-bridge') nic.script = v.script;
  nic.nictype = v.type;
  if (v.rate) {
    nic.rate_bytes_per_interval = Number(v.rate.bytesPerInterval);
    nic.rate_interval_usecs = v.rate.intervalUsecs;
  }
  if (v.gatewaydev !== undefined) nic.gatewaydev = v.gatewaydev;
  return ordered(nic, 'nic');
}

/**
 * yajl_gen with yajl_gen_beautify and libxl's 4-space indent: `"key": value`, one entry per line, an
 * empty map or array as "{", an empty line, then "}" at the map's indent; a newline after the
 * top-level value. Strings are escaped as JSON requires.
 */
export function formatYajl(value: LibxlJson): string {
  const pad = (d: number): string => '    '.repeat(d);
  const body = (v: LibxlJson, d: number): string => {
    if (v === null) return 'null';
    if (typeof v === 'string') return JSON.stringify(v);
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (Array.isArray(v)) {
      if (v.length === 0) return `[\n\n${pad(d)}]`;
      return `[\n${v.map((e: LibxlJson) => `${pad(d + 1)}${body(e, d + 1)}`).join(',\n')}\n${pad(d)}]`;
    }
    const entries = Object.entries(v as { readonly [key: string]: LibxlJson });
    if (entries.length === 0) return `{\n\n${pad(d)}}`;
    return `{\n${entries.map(([k, e]) => `${pad(d + 1)}${JSON.stringify(k)}: ${body(e, d + 1)}`).join(',\n')}\n${pad(d)}}`;
  };
  return `${body(value, 0)}\n`;
}
