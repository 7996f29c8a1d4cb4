// Xen hypercall numbers, sub-op numbers and flag bits txl uses (x86_64 PV), with the header each mirrors.

/** Hypercall numbers: xen/include/public/xen.h `__HYPERVISOR_*` (same in stable-4.17 and stable-4.20). */
export const HYPERCALL = {
  memory_op: 12,
  xen_version: 17,
  console_io: 18,
  grant_table_op: 20,
  mmuext_op: 26,
  sched_op: 29,
  event_channel_op: 32,
  sysctl: 35,
  domctl: 36,
} as const;

/** XEN_DOMCTL_* commands: xen/include/public/domctl.h (identical numbers in 4.17 and 4.20). */
export const DOMCTL = {
  createdomain: 1,
  destroydomain: 2,
  pausedomain: 3,
  unpausedomain: 4,
  getdomaininfo: 5,
  max_mem: 11,
  setvcpucontext: 12,
  getvcpucontext: 13,
  getvcpuinfo: 14,
  max_vcpus: 15,
  scheduler_op: 16,
  setdomainhandle: 17,
  hypercall_init: 22,
  settimeoffset: 24,
  getvcpuaffinity: 25,
  set_address_size: 35,
  get_address_size: 36,
} as const;

/** XEN_SYSCTL_* commands: xen/include/public/sysctl.h. */
export const SYSCTL = {
  readconsole: 1,
  physinfo: 3,
  sched_id: 4,
  getdomaininfolist: 6,
  cpupool_op: 18,
} as const;

/** XEN_SYSCTL_CPUPOOL_OP_*: sysctl.h. */
export const CPUPOOL_OP_FREEINFO = 7;

/** XENVER_* sub-ops: xen/include/public/version.h. */
export const XENVER = {
  version: 0,
  extraversion: 1,
  compile_info: 2,
  capabilities: 3,
  changeset: 4,
  platform_parameters: 5,
  pagesize: 7,
  commandline: 9,
  build_id: 10,
} as const;

/** XENMEM_* sub-ops: xen/include/public/memory.h. */
export const XENMEM = {
  increase_reservation: 0,
  decrease_reservation: 1,
  populate_physmap: 6,
  get_sharing_freed_pages: 18,
  get_sharing_shared_pages: 19,
} as const;

/** EVTCHNOP_*: xen/include/public/event_channel.h. */
export const EVTCHNOP = { close: 3, alloc_unbound: 6 } as const;

/** GNTTABOP_*: xen/include/public/grant_table.h. */
export const GNTTABOP = { setup_table: 2 } as const;
/** GTF_permit_access and the reserved grant refs: grant_table.h. */
export const GTF_permit_access = 1;
export const GNTTAB_RESERVED_CONSOLE = 0;
export const GNTTAB_RESERVED_XENSTORE = 1;

/** SCHEDOP_* and SHUTDOWN_* reasons: xen/include/public/sched.h. */
export const SCHEDOP = { remote_shutdown: 4 } as const;
export const SHUTDOWN_REASON = { poweroff: 0, reboot: 1, suspend: 2, crash: 3, watchdog: 4, soft_reset: 5 } as const;
/** A guest shutdown reason name. */
export type ShutdownReason = keyof typeof SHUTDOWN_REASON;

/** MMUEXT_* commands: xen/include/public/xen.h. */
export const MMUEXT = { pin_l1: 0, pin_l2: 1, pin_l3: 2, pin_l4: 3, unpin: 4 } as const;

/** CONSOLEIO_*: xen/include/public/xen.h. */
export const CONSOLEIO = { write: 0, read: 1 } as const;

/** XEN_DOMINF_* bits of getdomaininfo.flags: domctl.h. */
export const DOMINF = {
  dying: 1 << 0,
  hvm_guest: 1 << 1,
  shutdown: 1 << 2,
  paused: 1 << 3,
  blocked: 1 << 4,
  running: 1 << 5,
  debugged: 1 << 6,
  xs_domain: 1 << 7,
  hap: 1 << 8,
  shutdownShift: 16,
  shutdownMask: 0xff,
} as const;

/** XEN_SYSCTL_PHYSCAP_* bits of physinfo.capabilities: sysctl.h. */
export const PHYSCAP = {
  hvm: 1 << 0,
  pv: 1 << 1,
  directio: 1 << 2,
  hap: 1 << 3,
  shadow: 1 << 4,
  iommu_hap_pt_share: 1 << 5,
  vmtrace: 1 << 6,
  vpmu: 1 << 7,
  gnttab_v1: 1 << 8,
  gnttab_v2: 1 << 9,
} as const;

/** XEN_DOMCTL_SCHEDOP_*: domctl.h. */
export const DOMCTL_SCHEDOP = { putinfo: 0, getinfo: 1 } as const;

/** XEN_SCHEDULER_* ids (sysctl sched_id) and the names libxl prints: domctl.h, libxl_types.idl. */
export const SCHEDULER_NAMES: Readonly<Record<number, string>> = { 5: 'credit', 6: 'credit2', 7: 'arinc653', 8: 'rtds', 9: 'null' };

/** DOMID_* reserved ids: xen.h. */
export const DOMID_FIRST_RESERVED = 0x7ff0;
export const DOMID_SELF = 0x7ff0;

/** XEN_VCPUAFFINITY_HARD/SOFT: domctl.h. */
export const VCPUAFFINITY = { hard: 1, soft: 2 } as const;

/** XENMEM_resource_* types for privcmd MMAP_RESOURCE: memory.h. */
export const XENMEM_RESOURCE_GRANT_TABLE = 1;
export const XENMEM_RESOURCE_GRANT_TABLE_ID_SHARED = 0;

/** Xen's page size on x86. */
export const XEN_PAGE_SIZE = 4096;
