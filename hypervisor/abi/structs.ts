// Struct layouts of the Xen public ABI txl uses, per Xen release (4.17: domctl 0x15; 4.20: domctl 0x17).
// Each struct cites the header it mirrors; sizes and offsets are checked in structs.test.ts against gcc.
import { array, bytes, chars, handle, i16, i32, i64, opaque, struct, u16, u32, u64, u8 } from './layout.js';

const D417 = 'xen/include/public/domctl.h @ stable-4.17';
const D420 = 'xen/include/public/domctl.h @ stable-4.20';
const S417 = 'xen/include/public/sysctl.h @ stable-4.17 (unchanged in stable-4.20)';
const X86 = 'xen/include/public/arch-x86/xen.h @ stable-4.17 (unchanged in stable-4.20)';

// ---- framing ---------------------------------------------------------------------------------

/** `struct xen_domctl`: header + 128-byte, 8-aligned union `u` (domctl.h). */
export const xen_domctl = struct('xen_domctl', `${D417}; same framing in 4.20`, {
  cmd: u32,
  interface_version: u32,
  domain: u16,
  _pad: array(u16, 3),
  u: opaque(128, 8),
});

/** `struct xen_sysctl`: header + 128-byte union `u` (sysctl.h). */
export const xen_sysctl = struct('xen_sysctl', S417, {
  cmd: u32,
  interface_version: u32,
  u: opaque(128, 8),
});

// ---- domctl payloads -------------------------------------------------------------------------

/** `struct xen_arch_domainconfig` (x86): emulation flags and MSR policy. */
export const xen_arch_domainconfig = struct('xen_arch_domainconfig', X86, {
  emulation_flags: u32,
  misc_flags: u32,
});

/** `struct xen_domctl_createdomain` in Xen 4.17 (domctl 0x15). */
export const createdomain_417 = struct('xen_domctl_createdomain', D417, {
  ssidref: u32,
  handle: bytes(16),
  flags: u32,
  iommu_opts: u32,
  max_vcpus: u32,
  max_evtchn_port: u32,
  max_grant_frames: i32,
  max_maptrack_frames: i32,
  grant_opts: u32,
  vmtrace_size: u32,
  cpupool_id: u32,
  arch: xen_arch_domainconfig,
});

/** `struct xen_domctl_createdomain` in Xen 4.19/4.20 (domctl 0x17): `altp2m_opts` after `grant_opts`. */
export const createdomain_420 = struct('xen_domctl_createdomain', D420, {
  ssidref: u32,
  handle: bytes(16),
  flags: u32,
  iommu_opts: u32,
  max_vcpus: u32,
  max_evtchn_port: u32,
  max_grant_frames: i32,
  max_maptrack_frames: i32,
  grant_opts: u32,
  altp2m_opts: u32,
  vmtrace_size: u32,
  cpupool_id: u32,
  arch: xen_arch_domainconfig,
});

/** `struct xen_domctl_getdomaininfo` (same layout in 4.17 and 4.20; 4.17 returns the next domain >= id). */
export const getdomaininfo = struct('xen_domctl_getdomaininfo', `${D417}; identical in stable-4.20`, {
  domain: u16,
  pad1: u16,
  flags: u32,
  tot_pages: u64,
  max_pages: u64,
  outstanding_pages: u64,
  shr_pages: u64,
  paged_pages: u64,
  shared_info_frame: u64,
  cpu_time: u64,
  nr_online_vcpus: u32,
  max_vcpu_id: u32,
  ssidref: u32,
  handle: bytes(16),
  cpupool: u32,
  gpaddr_bits: u8,
  pad2: bytes(7),
  arch_config: xen_arch_domainconfig,
});

/** `struct xen_domctl_max_mem`. */
export const max_mem = struct('xen_domctl_max_mem', D417, { max_memkb: u64 });
/** `struct xen_domctl_max_vcpus`. */
export const max_vcpus = struct('xen_domctl_max_vcpus', D417, { max: u32 });
/** `struct xen_domctl_vcpucontext` (set/getvcpucontext). */
export const vcpucontext = struct('xen_domctl_vcpucontext', D417, { vcpu: u32, ctxt: handle });
/** `struct xen_domctl_getvcpuinfo`. */
export const getvcpuinfo = struct('xen_domctl_getvcpuinfo', D417, {
  vcpu: u32,
  online: u8,
  blocked: u8,
  running: u8,
  cpu_time: u64,
  cpu: u32,
});
/**
 * `struct xen_domctl_scheduler_op`, its union `u` read as the credit2 view (`struct
 * xen_domctl_sched_credit2`: weight, cap; credit's has the same offsets, measure-layouts.c checks it).
 * The rest of the 16-byte union (rtds, the per-vcpu handle) is not used by txl.
 */
export const scheduler_op = struct('xen_domctl_scheduler_op', D417, {
  sched_id: u32,
  cmd: u32,
  weight: u16,
  cap: u16,
  _u_rest: bytes(12),
});
/** `struct xenctl_bitmap` (xen.h). */
export const xenctl_bitmap = struct('xenctl_bitmap', 'xen/include/public/xen.h @ stable-4.17', { bitmap: handle, nr_bits: u32 });
/** `struct xen_domctl_vcpuaffinity` (get/setvcpuaffinity). */
export const vcpuaffinity = struct('xen_domctl_vcpuaffinity', D417, {
  vcpu: u32,
  flags: u32,
  cpumap_hard: xenctl_bitmap,
  cpumap_soft: xenctl_bitmap,
});
/** `struct xen_domctl_address_size`. */
export const address_size = struct('xen_domctl_address_size', D417, { size: u32 });
/** `struct xen_domctl_settimeoffset`. */
export const settimeoffset = struct('xen_domctl_settimeoffset', D417, { time_offset_seconds: i64 });
/** `struct xen_domctl_hypercall_init`. */
export const hypercall_init = struct('xen_domctl_hypercall_init', D417, { gmfn: u64 });
/** `struct xen_domctl_setdomainhandle`. */
export const setdomainhandle = struct('xen_domctl_setdomainhandle', D417, { handle: bytes(16) });

// ---- sysctl payloads -------------------------------------------------------------------------

/** `struct xen_sysctl_readconsole`. */
export const readconsole = struct('xen_sysctl_readconsole', S417, {
  clear: u8,
  incremental: u8,
  pad0: u8,
  pad1: u8,
  index: u32,
  buffer: handle,
  count: u32,
});

/** `struct xen_sysctl_physinfo`. */
export const physinfo = struct('xen_sysctl_physinfo', S417, {
  threads_per_core: u32,
  cores_per_socket: u32,
  nr_cpus: u32,
  max_cpu_id: u32,
  nr_nodes: u32,
  max_node_id: u32,
  cpu_khz: u32,
  capabilities: u32,
  arch_capabilities: u32,
  pad: u32,
  total_pages: u64,
  free_pages: u64,
  scrub_pages: u64,
  outstanding_pages: u64,
  max_mfn: u64,
  hw_cap: array(u32, 8),
});

/** `struct xen_sysctl_getdomaininfolist`. */
export const getdomaininfolist = struct('xen_sysctl_getdomaininfolist', S417, {
  first_domain: u16,
  max_domains: u32,
  buffer: handle,
  num_domains: u32,
});

/** `struct xen_sysctl_sched_id`. */
export const sched_id = struct('xen_sysctl_sched_id', S417, { sched_id: u32 });

/** `struct xen_sysctl_cpupool_op`. */
export const cpupool_op = struct('xen_sysctl_cpupool_op', S417, {
  op: u32,
  cpupool_id: u32,
  sched_id: u32,
  domid: u32,
  cpu: u32,
  n_dom: u32,
  cpumap: xenctl_bitmap,
});

// ---- other hypercalls ------------------------------------------------------------------------

/** `struct xen_memory_reservation` (memory.h). */
export const xen_memory_reservation = struct('xen_memory_reservation', 'xen/include/public/memory.h @ stable-4.17', {
  extent_start: handle,
  nr_extents: u64,
  extent_order: u32,
  mem_flags: u32,
  domid: u16,
});

/** `struct evtchn_alloc_unbound` (event_channel.h). */
export const evtchn_alloc_unbound = struct('evtchn_alloc_unbound', 'xen/include/public/event_channel.h @ stable-4.17', {
  dom: u16,
  remote_dom: u16,
  port: u32,
});
/** `struct evtchn_close` (event_channel.h). */
export const evtchn_close = struct('evtchn_close', 'xen/include/public/event_channel.h @ stable-4.17', { port: u32 });

/** `struct gnttab_setup_table` (grant_table.h). */
export const gnttab_setup_table = struct('gnttab_setup_table', 'xen/include/public/grant_table.h @ stable-4.17', {
  dom: u16,
  nr_frames: u32,
  status: i16,
  frame_list: handle,
});
/** `struct grant_entry_v1` (grant_table.h): 8 bytes, 512 per 4 KiB frame. */
export const grant_entry_v1 = struct('grant_entry_v1', 'xen/include/public/grant_table.h @ stable-4.17', {
  flags: u16,
  domid: u16,
  frame: u32,
});

/** `struct sched_remote_shutdown` (sched.h). */
export const sched_remote_shutdown = struct('sched_remote_shutdown', 'xen/include/public/sched.h @ stable-4.17', {
  domain_id: u16,
  reason: u32,
});

/** `struct mmuext_op` (xen.h): cmd, then two 8-byte unions (mfn/linear_addr, nr_ents/vcpumask/src_mfn). */
export const mmuext_op = struct('mmuext_op', 'xen/include/public/xen.h @ stable-4.17', {
  cmd: u32,
  arg1: u64,
  arg2: u64,
});

/** `struct xen_compile_info` (version.h). */
export const xen_compile_info = struct('xen_compile_info', 'xen/include/public/version.h @ stable-4.17', {
  compiler: chars(64),
  compile_by: chars(16),
  compile_domain: chars(32),
  compile_date: chars(32),
});
/** `struct xen_platform_parameters` (version.h). */
export const xen_platform_parameters = struct('xen_platform_parameters', 'xen/include/public/version.h @ stable-4.17', { virt_start: u64 });

// ---- vCPU context (x86_64 PV) ----------------------------------------------------------------

/** `struct cpu_user_regs` for x86_64 (arch-x86/xen-x86_64.h). */
export const cpu_user_regs = struct('cpu_user_regs', 'xen/include/public/arch-x86/xen-x86_64.h @ stable-4.17', {
  r15: u64, r14: u64, r13: u64, r12: u64, rbp: u64, rbx: u64, r11: u64, r10: u64, r9: u64, r8: u64,
  rax: u64, rcx: u64, rdx: u64, rsi: u64, rdi: u64,
  error_code: u32,
  entry_vector: u32,
  rip: u64,
  cs: u16, _pad0: u16,
  saved_upcall_mask: u8, _pad1: bytes(3),
  rflags: u64,
  rsp: u64,
  ss: u16, _pad2: array(u16, 3),
  es: u16, _pad3: array(u16, 3),
  ds: u16, _pad4: array(u16, 3),
  fs: u16, _pad5: array(u16, 3),
  gs: u16, _pad6: array(u16, 3),
});

/** `struct trap_info` (arch-x86/xen.h). */
export const trap_info = struct('trap_info', X86, { vector: u8, flags: u8, cs: u16, address: u64 });

/** `struct vcpu_guest_context` for x86_64, as built by the toolstack (arch-x86/xen.h, `!__XEN__`). */
export const vcpu_guest_context = struct('vcpu_guest_context', X86, {
  fpu_ctxt: bytes(512),
  flags: u64,
  user_regs: cpu_user_regs,
  trap_ctxt: array(trap_info, 256),
  ldt_base: u64,
  ldt_ents: u64,
  gdt_frames: array(u64, 16),
  gdt_ents: u64,
  kernel_ss: u64,
  kernel_sp: u64,
  ctrlreg: array(u64, 8),
  debugreg: array(u64, 8),
  event_callback_eip: u64,
  failsafe_callback_eip: u64,
  syscall_callback_eip: u64,
  vm_assist: u64,
  fs_base: u64,
  gs_base_kernel: u64,
  gs_base_user: u64,
});

// ---- per-release table -----------------------------------------------------------------------

/** The layouts and interface versions of one Xen release. */
export interface XenAbi {
  /** 'major.minor' this table is for. */
  readonly release: '4.17' | '4.20';
  readonly domctlInterfaceVersion: number;
  readonly sysctlInterfaceVersion: number;
  readonly createdomain: typeof createdomain_417 | typeof createdomain_420;
  /** True when XEN_DOMCTL_getdomaininfo returns the next existing domain >= the requested id (before 4.18). */
  readonly getdomaininfoReturnsNext: boolean;
}

/** Xen 4.17: XEN_DOMCTL_INTERFACE_VERSION 0x15, XEN_SYSCTL_INTERFACE_VERSION 0x15. */
export const ABI_417: XenAbi = {
  release: '4.17',
  domctlInterfaceVersion: 0x15,
  sysctlInterfaceVersion: 0x15,
  createdomain: createdomain_417,
  getdomaininfoReturnsNext: true,
};

/** Xen 4.20: XEN_DOMCTL_INTERFACE_VERSION 0x17, XEN_SYSCTL_INTERFACE_VERSION 0x15. */
export const ABI_420: XenAbi = {
  release: '4.20',
  domctlInterfaceVersion: 0x17,
  sysctlInterfaceVersion: 0x15,
  createdomain: createdomain_420,
  getdomaininfoReturnsNext: false,
};

/** The ABI table for a running Xen's `XENVER_version` (major<<16 | minor), or undefined if unsupported. */
export function abiForVersion(major: number, minor: number): XenAbi | undefined {
  if (major === 4 && minor === 17) return ABI_417;
  if (major === 4 && minor === 20) return ABI_420;
  return undefined;
}
