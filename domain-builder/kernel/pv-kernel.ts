// Decides whether an ELF kernel can boot as an x86_64 PV guest and derives its addresses.
//
// Follows libelf's elf_xen_parse -> elf_xen_note_check -> elf_xen_addr_calc_check
// (xen/common/libelf/libelf-dominfo.c), elf_parse_binary's pstart/pend (libelf-loader.c) and the
// libxenguest checks in xg_dom_core.c/xg_dom_x86.c (dom0-only and auto-translated kernels refused,
// INIT_P2M used only when below virt_base and page aligned), each refusal with a reason.
import { DomainBuilderError } from '../errors.js';
import { EM, PF_RWX, PT_LOAD, machineName, segmentBytes } from './elf.js';
import type { LoadedElf } from './loader.js';
import { XEN_FEATURES, readXenNotes, type XenNotes } from './xen-notes.js';

/** One PT_LOAD segment to copy into guest memory. */
export interface KernelSegment {
  /** Physical load address (p_paddr); the guest frame is derived from pstart. */
  readonly paddr: bigint;
  readonly memsz: bigint;
  /** The p_filesz bytes to copy; the rest up to memsz is zero. */
  readonly data: Uint8Array;
}

/** A kernel that passed every PV check, with everything the layout planner needs. */
export interface KernelImage {
  readonly source: string;
  readonly format: LoadedElf['format'];
  readonly compression: LoadedElf['compression'];
  /** Always "xen-3.0-x86_64": the only guest type txl builds. */
  readonly guestType: 'xen-3.0-x86_64';
  readonly notes: XenNotes;
  readonly virtBase: bigint;
  readonly paddrOffset: bigint;
  readonly virtKstart: bigint;
  readonly virtKend: bigint;
  readonly virtEntry: bigint;
  /** VA of the hypercall page, if the kernel asks for one. */
  readonly hypercallPage: bigint | undefined;
  /** INIT_P2M when usable (below virt_base, page aligned): the p2m gets its own mapping there. */
  readonly p2mBase: bigint | undefined;
  /** MOD_START_PFN: the initrd is placed after the initial mapping and passed as a pfn. */
  readonly unmappedInitrd: boolean;
  readonly pstart: bigint;
  readonly pend: bigint;
  readonly segments: readonly KernelSegment[];
}

const MASK64 = 0xffff_ffff_ffff_ffffn;

function notPv(source: string, message: string, hint?: string): DomainBuilderError {
  return new DomainBuilderError('TXL_KERNEL_NOT_PV', `${source}: ${message}`, hint === undefined ? { details: { file: source } } : { details: { file: source }, hint });
}

/** Validates `loaded` as an x86_64 PV kernel and computes its addresses; throws a typed refusal otherwise. */
export function checkPvKernel(loaded: LoadedElf, source: string): KernelImage {
  const { elf } = loaded;
  if (elf.machine !== EM.X86_64) {
    const arch = machineName(elf.machine);
    throw new DomainBuilderError('TXL_KERNEL_WRONG_ARCH', elf.machine === EM.AARCH64
      ? `${source}: this is an arm64 image; Xen PV guests on this host need an x86_64 kernel`
      : `${source}: ELF kernel for ${arch}; a PV guest kernel must be x86_64`, { details: { file: source, machine: arch } });
  }
  const notes = readXenNotes(elf, source);
  if (notes.source === 'none') {
    throw notPv(source, 'no Xen PV entry note: the kernel needs CONFIG_XEN_PV (it has no Xen ELF notes and no __xen_guest section)',
      'Debian\'s linux-image-amd64 kernels are built with CONFIG_XEN_PV=y; custom kernels need CONFIG_XEN_PV');
  }
  if (notes.entry === undefined) {
    throw notPv(source, notes.phys32Entry !== undefined
      ? 'no Xen PV entry note: this kernel only supports PVH (XEN_ELFNOTE_PHYS32_ENTRY); a PV guest needs CONFIG_XEN_PV'
      : 'no Xen PV entry note (XEN_ELFNOTE_ENTRY): the kernel needs CONFIG_XEN_PV');
  }
  const loaderOk = notes.loader !== undefined && notes.loader.startsWith('generic');
  const osOk = notes.guestOs !== undefined && notes.guestOs.startsWith('linux');
  if (!loaderOk && !osOk) {
    throw notPv(source, `Xen will only load images built for the generic loader or Linux images (not LOADER='${notes.loader ?? ''}' and GUEST_OS='${notes.guestOs ?? ''}')`);
  }
  if (notes.xenVersion === undefined || !notes.xenVersion.startsWith('xen-3.0')) {
    throw notPv(source, `the kernel is built for Xen interface '${notes.xenVersion ?? ''}', not xen-3.0`);
  }
  if (notes.paeMode !== undefined && notes.paeMode.includes('bimodal')) {
    throw new DomainBuilderError('TXL_KERNEL_WRONG_ARCH', `${source}: 32-bit PV is not supported (PAE_MODE '${notes.paeMode}')`, { details: { file: source } });
  }
  if (notes.unknownRequiredFeature !== undefined) {
    throw notPv(source, `the kernel requires Xen feature '${notes.unknownRequiredFeature}', which txl does not know`);
  }
  if (notes.requiredFeatures & (1 << XEN_FEATURES['dom0']!)) {
    throw notPv(source, 'the kernel requires to run as dom0 (FEATURES "!dom0") and does not support unprivileged (domU) operation');
  }
  if (notes.requiredFeatures & (1 << XEN_FEATURES['auto_translated_physmap']!)) {
    throw notPv(source, 'the kernel requires auto_translated_physmap, which PV guests no longer support');
  }

  // pstart/pend over loadable segments (libelf elf_parse_binary).
  let pstart = MASK64;
  let pend = 0n;
  const segments: KernelSegment[] = [];
  for (const ph of elf.programHeaders) {
    if (ph.type !== PT_LOAD || (ph.flags & PF_RWX) === 0) continue;
    if (ph.filesz > ph.memsz) {
      throw new DomainBuilderError('TXL_KERNEL_MALFORMED', `${source}: segment ${ph.index} has p_filesz ${ph.filesz} > p_memsz ${ph.memsz}`, { details: { file: source } });
    }
    if (ph.paddr + ph.memsz > MASK64) {
      throw new DomainBuilderError('TXL_KERNEL_MALFORMED', `${source}: segment ${ph.index} wraps the address space`, { details: { file: source } });
    }
    if (ph.paddr < pstart) pstart = ph.paddr;
    if (ph.paddr + ph.memsz > pend) pend = ph.paddr + ph.memsz;
    segments.push({ paddr: ph.paddr, memsz: ph.memsz, data: segmentBytes(elf, ph, source) });
  }
  if (segments.length === 0) {
    throw new DomainBuilderError('TXL_KERNEL_MALFORMED', `${source}: no loadable (PT_LOAD) segments`, { details: { file: source } });
  }

  if (notes.paddrOffset !== undefined && notes.virtBase === undefined) {
    throw notPv(source, 'ELF_PADDR_OFFSET is set but VIRT_BASE is not');
  }
  const virtBase = notes.virtBase ?? 0n;
  const paddrOffset = notes.paddrOffset ?? (notes.source === '__xen_guest' ? virtBase : 0n);
  const virtOffset = (virtBase - paddrOffset) & MASK64;
  const virtKstart = (pstart + virtOffset) & MASK64;
  const virtKend = (pend + virtOffset) & MASK64;
  const virtEntry = notes.entry;
  if (virtKstart > virtKend || virtEntry < virtKstart || virtEntry > virtKend || virtBase > virtKstart) {
    throw new DomainBuilderError('TXL_KERNEL_MALFORMED', `${source}: ELF start or entry out of bounds (virt_base ${hex(virtBase)}, kernel ${hex(virtKstart)}-${hex(virtKend)}, entry ${hex(virtEntry)})`, {
      details: { file: source },
    });
  }
  if ((virtKstart & 0xfffn) !== 0n) {
    throw new DomainBuilderError('TXL_KERNEL_MALFORMED', `${source}: kernel start ${hex(virtKstart)} is not page aligned`, { details: { file: source } });
  }
  if (notes.initP2m !== undefined && notes.initP2m >= virtKstart && notes.initP2m < virtKend) {
    throw new DomainBuilderError('TXL_KERNEL_MALFORMED', `${source}: P->M table base ${hex(notes.initP2m)} lies inside the kernel`, { details: { file: source } });
  }
  const p2mBase = notes.initP2m !== undefined && notes.initP2m < virtBase && (notes.initP2m & 0xfffn) === 0n ? notes.initP2m : undefined;
  let hypercallPage = notes.hypercallPage;
  if (hypercallPage !== undefined && (hypercallPage < virtKstart || hypercallPage >= virtKend)) {
    throw new DomainBuilderError('TXL_KERNEL_MALFORMED', `${source}: hypercall page ${hex(hypercallPage)} lies outside the kernel ${hex(virtKstart)}-${hex(virtKend)}`, { details: { file: source } });
  }
  hypercallPage = hypercallPage === undefined ? undefined : hypercallPage & ~0xfffn;
  return {
    source, format: loaded.format, compression: loaded.compression, guestType: 'xen-3.0-x86_64', notes,
    virtBase, paddrOffset, virtKstart, virtKend, virtEntry, hypercallPage, p2mBase,
    unmappedInitrd: notes.modStartPfn, pstart, pend, segments,
  };
}

/** 0x-prefixed hex of a 64-bit value. */
export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}
