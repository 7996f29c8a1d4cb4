// Byte layouts of the guest-visible structures the PV builder writes: start_info, vcpu_guest_context (x86_64),
// shared_info's vcpu_info masks, grant_entry_v1. Offsets are x86_64 LP64 gcc layouts of Xen's public
// headers (checked by abi/structs.test.ts against /usr/include/xen with gcc).

/** xen/include/public/xen.h: struct start_info (x86_64: unsigned long / xen_pfn_t are 8 bytes). 1168 bytes. */
export const START_INFO = {
  SIZE: 1168,
  magic: 0, // char magic[32]
  nr_pages: 32,
  shared_info: 40, // machine address of shared_info
  flags: 48, // uint32_t SIF_*
  store_mfn: 56,
  store_evtchn: 64, // uint32_t
  console_domU_mfn: 72, // console.domU.mfn
  console_domU_evtchn: 80, // console.domU.evtchn (uint32_t)
  pt_base: 88,
  nr_pt_frames: 96,
  mfn_list: 104,
  mod_start: 112,
  mod_len: 120,
  cmd_line: 128, // int8_t cmd_line[MAX_GUEST_CMDLINE = 1024]
  first_p2m_pfn: 1152,
  nr_p2m_frames: 1160,
} as const;

/** xen/include/public/arch-x86/xen.h: struct vcpu_guest_context, x86_64 (struct cpu_user_regs from arch-x86/xen-x86_64.h). 5168 bytes. */
export const VCPU_GUEST_CONTEXT = {
  SIZE: 5168,
  fpu_ctxt: 0, // 512 bytes
  flags: 512,
  user_regs: 520, // struct cpu_user_regs, 200 bytes
  rsi: 520 + 104,
  rip: 520 + 128,
  cs: 520 + 136, // uint16_t
  rflags: 520 + 144,
  rsp: 520 + 152,
  ss: 520 + 160, // uint16_t
  es: 520 + 168,
  ds: 520 + 176,
  fs: 520 + 184,
  gs: 520 + 192,
  trap_ctxt: 720, // struct trap_info[256], 16 bytes each
  ldt_base: 4816,
  ldt_ents: 4824,
  gdt_frames: 4832,
  gdt_ents: 4960,
  kernel_ss: 4968,
  kernel_sp: 4976,
  ctrlreg: 4984, // unsigned long ctrlreg[8]
  debugreg: 5048, // unsigned long debugreg[8]
  event_callback_eip: 5112,
  failsafe_callback_eip: 5120,
  syscall_callback_eip: 5128,
  vm_assist: 5136,
  fs_base: 5144,
  gs_base_kernel: 5152,
  gs_base_user: 5160,
} as const;

/** VGCF_* flags (arch-x86/xen.h): _VGCF_in_kernel = 2, _VGCF_online = 5. */
export const VGCF_IN_KERNEL = 1 << 2;
export const VGCF_ONLINE = 1 << 5;
/** Flat segment selectors of a 64-bit PV kernel (arch-x86/xen-x86_64.h). */
export const FLAT_KERNEL_CS64 = 0xe033;
export const FLAT_KERNEL_SS64 = 0xe02b;
export const FLAT_KERNEL_DS64 = 0;
/** X86_DR6_DEFAULT / X86_DR7_DEFAULT (xen/arch/x86/include/asm/debugreg.h, as libxenguest uses them). */
export const X86_DR6_DEFAULT = 0xffff0ff0;
export const X86_DR7_DEFAULT = 0x00000400;
/** RFLAGS.IF. */
export const X86_EFLAGS_IF = 1 << 9;

/** xen/include/public/xen.h: struct shared_info is 3136 bytes on x86_64; vcpu_info[XEN_LEGACY_MAX_VCPUS = 32] are 64 bytes each. */
export const SHARED_INFO = {
  SIZE: 3136,
  VCPU_INFO_SIZE: 64,
  LEGACY_MAX_VCPUS: 32,
  evtchn_upcall_mask: 1, // offset inside vcpu_info
} as const;

/** xen/include/public/grant_table.h: grant_entry_v1_t {uint16_t flags; domid_t domid; uint32_t frame;}, 8 bytes. */
export const GRANT_ENTRY_V1 = { SIZE: 8, flags: 0, domid: 2, frame: 4 } as const;
/** GTF_permit_access. */
export const GTF_PERMIT_ACCESS = 1;

/** Fields of start_info the builder sets. Frames are numbers (< 2^52), addresses bigints. */
export interface StartInfoFields {
  readonly magic: string;
  readonly nrPages: number;
  readonly sharedInfoMfn: number;
  readonly flags: number;
  readonly storeMfn: number;
  readonly storeEvtchn: number;
  readonly consoleMfn: number;
  readonly consoleEvtchn: number;
  readonly ptBase: bigint;
  readonly nrPtFrames: number;
  readonly mfnList: bigint;
  readonly modStart: bigint;
  readonly modLen: number;
  readonly cmdline: string;
  readonly firstP2mPfn: number;
  readonly nrP2mFrames: number;
}

/** Encodes start_info into `page` (zeroed first, like start_info_x86_64). The command line is cut to 1023 bytes + NUL. */
export function encodeStartInfo(f: StartInfoFields, page: Uint8Array = new Uint8Array(4096)): Uint8Array {
  page.fill(0, 0, START_INFO.SIZE);
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const magic = Buffer.from(f.magic, 'latin1').subarray(0, 31);
  page.set(magic, START_INFO.magic);
  dv.setBigUint64(START_INFO.nr_pages, BigInt(f.nrPages), true);
  dv.setBigUint64(START_INFO.shared_info, BigInt(f.sharedInfoMfn) << 12n, true);
  dv.setUint32(START_INFO.flags, f.flags >>> 0, true);
  dv.setBigUint64(START_INFO.store_mfn, BigInt(f.storeMfn), true);
  dv.setUint32(START_INFO.store_evtchn, f.storeEvtchn >>> 0, true);
  dv.setBigUint64(START_INFO.console_domU_mfn, BigInt(f.consoleMfn), true);
  dv.setUint32(START_INFO.console_domU_evtchn, f.consoleEvtchn >>> 0, true);
  dv.setBigUint64(START_INFO.pt_base, f.ptBase, true);
  dv.setBigUint64(START_INFO.nr_pt_frames, BigInt(f.nrPtFrames), true);
  dv.setBigUint64(START_INFO.mfn_list, f.mfnList, true);
  dv.setBigUint64(START_INFO.mod_start, f.modStart, true);
  dv.setBigUint64(START_INFO.mod_len, BigInt(f.modLen), true);
  const cmd = Buffer.from(f.cmdline, 'utf8').subarray(0, 1023);
  page.set(cmd, START_INFO.cmd_line);
  dv.setBigUint64(START_INFO.first_p2m_pfn, BigInt(f.firstP2mPfn), true);
  dv.setBigUint64(START_INFO.nr_p2m_frames, BigInt(f.nrP2mFrames), true);
  return page;
}

/** Decodes start_info (for tests and the simulator). */
export function decodeStartInfo(page: Uint8Array): StartInfoFields {
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const str = (o: number, n: number) => {
    const b = page.subarray(o, o + n);
    const nul = b.indexOf(0);
    return Buffer.from(b.subarray(0, nul < 0 ? n : nul)).toString(o === START_INFO.magic ? 'latin1' : 'utf8');
  };
  const u64 = (o: number) => Number(dv.getBigUint64(o, true));
  return {
    magic: str(START_INFO.magic, 32),
    nrPages: u64(START_INFO.nr_pages),
    sharedInfoMfn: Number(dv.getBigUint64(START_INFO.shared_info, true) >> 12n),
    flags: dv.getUint32(START_INFO.flags, true),
    storeMfn: u64(START_INFO.store_mfn),
    storeEvtchn: dv.getUint32(START_INFO.store_evtchn, true),
    consoleMfn: u64(START_INFO.console_domU_mfn),
    consoleEvtchn: dv.getUint32(START_INFO.console_domU_evtchn, true),
    ptBase: dv.getBigUint64(START_INFO.pt_base, true),
    nrPtFrames: u64(START_INFO.nr_pt_frames),
    mfnList: dv.getBigUint64(START_INFO.mfn_list, true),
    modStart: dv.getBigUint64(START_INFO.mod_start, true),
    modLen: u64(START_INFO.mod_len),
    cmdline: str(START_INFO.cmd_line, 1024),
    firstP2mPfn: u64(START_INFO.first_p2m_pfn),
    nrP2mFrames: u64(START_INFO.nr_p2m_frames),
  };
}

/** The registers and control state of vCPU 0 at boot (vcpu_x86_64 in xg_dom_x86.c). */
export interface PvVcpuState {
  readonly rip: bigint;
  readonly rsp: bigint;
  readonly rsi: bigint;
  /** Machine frame of the L4 (ctrlreg[3] = mfn << 12, xen_pfn_to_cr3 on x86_64). */
  readonly cr3Mfn: number;
}

/** Encodes an x86_64 vcpu_guest_context the way vcpu_x86_64 fills it (everything else zero). 5168 bytes. */
export function encodeVcpuContext(s: PvVcpuState): Uint8Array {
  const V = VCPU_GUEST_CONTEXT;
  const b = new Uint8Array(V.SIZE);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(V.flags, BigInt(VGCF_IN_KERNEL | VGCF_ONLINE), true);
  dv.setBigUint64(V.rip, s.rip, true);
  dv.setBigUint64(V.rsp, s.rsp, true);
  dv.setBigUint64(V.rsi, s.rsi, true);
  dv.setBigUint64(V.rflags, BigInt(X86_EFLAGS_IF), true);
  dv.setUint16(V.cs, FLAT_KERNEL_CS64, true);
  dv.setUint16(V.ss, FLAT_KERNEL_SS64, true);
  dv.setUint16(V.ds, FLAT_KERNEL_DS64, true);
  dv.setUint16(V.es, FLAT_KERNEL_DS64, true);
  dv.setUint16(V.fs, FLAT_KERNEL_DS64, true);
  dv.setUint16(V.gs, FLAT_KERNEL_DS64, true);
  dv.setBigUint64(V.kernel_ss, BigInt(FLAT_KERNEL_SS64), true);
  dv.setBigUint64(V.kernel_sp, s.rsp, true);
  dv.setBigUint64(V.ctrlreg + 3 * 8, BigInt(s.cr3Mfn) << 12n, true);
  dv.setBigUint64(V.debugreg + 6 * 8, BigInt(X86_DR6_DEFAULT), true);
  dv.setBigUint64(V.debugreg + 7 * 8, BigInt(X86_DR7_DEFAULT), true);
  return b;
}

/** Decodes the fields encodeVcpuContext sets (for tests and the simulator). */
export function decodeVcpuContext(b: Uint8Array): PvVcpuState & { flags: number; cs: number; ss: number; rflags: number; kernelSp: bigint } {
  const V = VCPU_GUEST_CONTEXT;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    rip: dv.getBigUint64(V.rip, true),
    rsp: dv.getBigUint64(V.rsp, true),
    rsi: dv.getBigUint64(V.rsi, true),
    cr3Mfn: Number(dv.getBigUint64(V.ctrlreg + 24, true) >> 12n),
    flags: Number(dv.getBigUint64(V.flags, true)),
    cs: dv.getUint16(V.cs, true),
    ss: dv.getUint16(V.ss, true),
    rflags: Number(dv.getBigUint64(V.rflags, true)),
    kernelSp: dv.getBigUint64(V.kernel_sp, true),
  };
}

/** shared_info_x86_64: zero the structure, then mask event upcalls of the 32 legacy vcpu_info slots. */
export function initSharedInfo(page: Uint8Array): void {
  page.fill(0, 0, SHARED_INFO.SIZE);
  for (let i = 0; i < SHARED_INFO.LEGACY_MAX_VCPUS; i++) page[i * SHARED_INFO.VCPU_INFO_SIZE + SHARED_INFO.evtchn_upcall_mask] = 1;
}
