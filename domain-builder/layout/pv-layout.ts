// planPvLayout: where every piece of an x86_64 PV guest goes, as plain data (pfns, virtual addresses, page-table ranges).
//
// Mirrors libxenguest's allocation order and arithmetic (tools/libs/guest/xg_dom_core.c
// xc_dom_build_image / xc_dom_alloc_segment / xc_dom_alloc_pad / xc_dom_chk_alloc_pages and
// xg_dom_x86.c count_pgtables / alloc_pgtables_pv / alloc_p2m_list_x86_64 / alloc_magic_pages_pv,
// stable-4.17), so that a guest sees the same start-of-day layout as under xl
// (xen/include/public/xen.h "Start-of-day memory layout").
import { DomainBuilderError } from '../errors.js';
import type { KernelImage } from '../kernel/pv-kernel.js';

/** 4 KiB pages. */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
/** x86_64 PV: 4 levels, 48-bit virtual addresses (xg_dom_x86.c VIRT_BITS_X86_64). */
export const PGTBL_LEVELS = 4;
export const VADDR_MASK = (1n << 48n) - 1n;
/** MAX_GUEST_CMDLINE (xen/include/public/xen.h). */
export const MAX_GUEST_CMDLINE = 1024;

/** A run of guest pages: first pfn, page count, and (when mapped) its virtual range [vstart, vend). */
export interface PvSegment {
  readonly pfn: number;
  readonly pages: number;
  readonly vstart: bigint;
  readonly vend: bigint;
}

/** One level of one mapping's page tables (struct xc_dom_x86_mapping_lvl). Ranges are inclusive, 48-bit masked. */
export interface PvMappingLevel {
  readonly from: bigint;
  readonly to: bigint;
  /** First pfn of this level's tables. */
  readonly pfn: number;
  readonly pgtables: number;
}

/** One virtual mapping the initial page tables establish (struct xc_dom_x86_mapping). */
export interface PvMapping {
  /** Mapped range (inclusive, 48-bit masked), its first data pfn, and the total tables it needs. */
  readonly area: { readonly from: bigint; readonly to: bigint; readonly pfn: number; readonly pgtables: number };
  /** lvls[0] = L1 ... lvls[3] = L4 (only mapping 0 has an L4). */
  readonly lvls: readonly [PvMappingLevel, PvMappingLevel, PvMappingLevel, PvMappingLevel];
}

/** What the planner needs besides the kernel. */
export interface PvLayoutConfig {
  /** Guest memory in 4 KiB pages (`memory=` MiB * 256). */
  readonly totalPages: number;
  /** Initrd length in bytes (0 or undefined: none). */
  readonly initrdLength?: number;
}

/** The planned layout: everything the build writes, where. */
export interface PvLayout {
  readonly totalPages: number;
  /** Entries in the p2m list (= totalPages: one vmemrange from 0). */
  readonly p2mSize: number;
  readonly virtBase: bigint;
  readonly kernel: PvSegment;
  /** Initrd segment; `mapped` false means after the initial mapping (MOD_START_PFN), vstart/vend then 0. */
  readonly initrd: (PvSegment & { readonly mapped: boolean; readonly length: number }) | undefined;
  /** The p2m list; when it has its own mapping (INIT_P2M) the segment also holds that mapping's tables. */
  readonly p2m: PvSegment & { readonly ownMapping: boolean; readonly listPages: number };
  readonly startInfoPfn: number;
  readonly xenstorePfn: number;
  readonly consolePfn: number;
  /** Page tables of mapping 0 (the L4 is its first page: cr3). */
  readonly pageTables: PvSegment;
  readonly bootstackPfn: number;
  /** End of the initial mapping (4 MiB aligned, exclusive). */
  readonly virtPgtabEnd: bigint;
  /** Mapping 0 (kernel region) and, with INIT_P2M, mapping 1 (p2m list). */
  readonly mappings: readonly PvMapping[];
  /** First pfn not used by the layout. */
  readonly pfnAllocEnd: number;
  /** Values the start_info page carries that the layout decides. */
  readonly startInfo: {
    readonly ptBase: bigint;
    readonly nrPtFrames: number;
    readonly mfnList: bigint;
    readonly firstP2mPfn: number;
    readonly nrP2mFrames: number;
    readonly modStart: bigint;
    readonly modLen: number;
    /** SIF_MOD_START_PFN when the initrd is unmapped. */
    readonly flags: number;
  };
  /** Initial registers of vCPU 0. */
  readonly regs: { readonly rip: bigint; readonly rsp: bigint; readonly rsi: bigint };
  /** pfn of the hypercall page (for XEN_DOMCTL_hypercall_init), if the kernel has one. */
  readonly hypercallPfn: number | undefined;
}

/** SIF_MOD_START_PFN (xen/include/public/xen.h). */
export const SIF_MOD_START_PFN = 1 << 3;

function bitsMask(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

function mib(pages: number): string {
  return `${(pages / 256).toFixed(pages % 256 === 0 ? 0 : 1)} MiB`;
}

/** Mutable allocator state (dom->pfn_alloc_end / virt_alloc_end). */
class Allocator {
  pfnAllocEnd = 0;
  virtAllocEnd: bigint;
  constructor(readonly totalPages: number, virtBase: bigint) {
    this.virtAllocEnd = virtBase;
  }

  /** xc_dom_chk_alloc_pages. */
  take(name: string, pages: number): void {
    const total = this.totalPages;
    if (pages > total || this.pfnAllocEnd > total || pages > total - this.pfnAllocEnd) {
      throw new DomainBuilderError('TXL_LAYOUT_NO_MEMORY',
        `the ${name} (${mib(pages)}) does not fit in the guest's ${mib(total)} of memory (${mib(this.pfnAllocEnd)} already laid out before it)`, {
          details: { segment: name, pages, totalPages: total, used: this.pfnAllocEnd },
          hint: 'raise memory= in the domain configuration, or use a smaller kernel/initrd',
        });
    }
    this.pfnAllocEnd += pages;
    this.virtAllocEnd += BigInt(pages) * BigInt(PAGE_SIZE);
  }

  /** xc_dom_alloc_pad. */
  pad(name: string, boundary: bigint): void {
    if ((boundary & 0xfffn) !== 0n || boundary < this.virtAllocEnd) {
      throw new DomainBuilderError('TXL_KERNEL_MALFORMED', `the ${name} boundary 0x${boundary.toString(16)} is not page aligned or lies below 0x${this.virtAllocEnd.toString(16)}`, { details: { segment: name } });
    }
    const pages = (boundary - this.virtAllocEnd) / BigInt(PAGE_SIZE);
    if (pages > BigInt(this.totalPages)) this.take(name, this.totalPages + 1);
    this.take(name, Number(pages));
  }

  /** xc_dom_alloc_segment(start, size). */
  segment(name: string, start: bigint, size: bigint): PvSegment {
    if (start !== 0n) this.pad(`padding before the ${name}`, start);
    const pages = Number((size + BigInt(PAGE_SIZE) - 1n) / BigInt(PAGE_SIZE));
    const vstart = this.virtAllocEnd;
    const pfn = this.pfnAllocEnd;
    this.take(name, pages);
    return { pfn, pages, vstart, vend: vstart + size };
  }

  /** xc_dom_alloc_page. */
  page(name: string): number {
    const pfn = this.pfnAllocEnd;
    this.take(name, 1);
    return pfn;
  }
}

/**
 * count_pgtables(from, to, pfn): the tables a new mapping of [from, to] needs, given the mappings
 * already made (levels they cover are shared), with table pfns assigned top-down from `pfnAllocEnd`.
 */
export function countPgtables(existing: readonly PvMapping[], from: bigint, to: bigint, pfn: number, pfnAllocEnd: number, p2mSize: number): PvMapping {
  const pfnEnd = pfn + Number((to - from) >> BigInt(PAGE_SHIFT));
  if (pfnEnd >= p2mSize) {
    throw new DomainBuilderError('TXL_LAYOUT_NO_MEMORY', `not enough memory for the initial mapping (it needs pfn 0x${pfnEnd.toString(16)}, the guest has 0x${p2mSize.toString(16)} pages)`, {
      details: { pfnEnd, p2mSize },
      hint: 'raise memory= in the domain configuration',
    });
  }
  for (const m of existing) {
    if (from < m.area.to && to > m.area.from) {
      throw new DomainBuilderError('TXL_KERNEL_MALFORMED', 'overlapping initial mappings (the kernel\'s INIT_P2M overlaps its own region)', {});
    }
  }
  const area = { from: from & VADDR_MASK, to: to & VADDR_MASK, pfn: 0, pgtables: 0 };
  const lvls: PvMappingLevel[] = [];
  for (let l = PGTBL_LEVELS - 1; l >= 0; l--) {
    const lvlPfn = pfnAllocEnd + area.pgtables;
    if (l === PGTBL_LEVELS - 1) {
      if (existing.length === 0) {
        lvls[l] = { from: 0n, to: VADDR_MASK, pfn: lvlPfn, pgtables: 1 };
        area.pgtables++;
      } else {
        lvls[l] = { from: 0n, to: 0n, pfn: lvlPfn, pgtables: 0 };
      }
      continue;
    }
    const bits = PAGE_SHIFT + (l + 1) * 9;
    const mask = bitsMask(bits);
    let lf = area.from & ~mask;
    let lt = area.to | mask;
    for (const cmp of existing) {
      const c = cmp.lvls[l]!;
      if (c.from === c.to) continue;
      if (lf >= c.from && lt <= c.to) { lf = 0n; lt = 0n; break; }
      if (lf >= c.from && lf <= c.to) lf = c.to + 1n;
      if (lt >= c.from && lt <= c.to) lt = c.from - 1n;
    }
    const pgtables = lf < lt ? Number((lt - lf) >> BigInt(bits)) + 1 : 0;
    lvls[l] = { from: lf, to: lt, pfn: lvlPfn, pgtables };
    area.pgtables += pgtables;
  }
  return { area, lvls: lvls as unknown as PvMapping['lvls'] };
}

function withPfnOffset(m: PvMapping, areaPfn: number, tableOffset: number): PvMapping {
  return {
    area: { ...m.area, pfn: areaPfn },
    lvls: m.lvls.map((lv) => ({ ...lv, pfn: lv.pfn + tableOffset })) as unknown as PvMapping['lvls'],
  };
}

/**
 * Plans the x86_64 PV layout of `kernel` in a guest of `config.totalPages` pages. Pure: the same
 * inputs always give the same layout. Throws TXL_LAYOUT_NO_MEMORY when something does not fit.
 */
export function planPvLayout(kernel: KernelImage, config: PvLayoutConfig): PvLayout {
  const totalPages = config.totalPages;
  if (!Number.isSafeInteger(totalPages) || totalPages <= 0) {
    throw new DomainBuilderError('TXL_BUILD_CONFIG', `guest memory of ${totalPages} pages is not a positive page count`, { details: { totalPages } });
  }
  const p2mSize = totalPages;
  const initrdLength = config.initrdLength ?? 0;
  const a = new Allocator(totalPages, kernel.virtBase);

  // 1. kernel
  const kernelSeg = a.segment('kernel', kernel.virtKstart, kernel.virtKend - kernel.virtKstart);

  // 2. initrd inside the initial mapping, unless the kernel takes it unmapped (MOD_START_PFN).
  let initrd: PvLayout['initrd'];
  if (initrdLength > 0 && !kernel.unmappedInitrd) {
    initrd = { ...a.segment('initrd', 0n, BigInt(initrdLength)), mapped: true, length: initrdLength };
  }

  // 3. p2m list inside the initial mapping when INIT_P2M is absent or unusable.
  const p2mListBytes = BigInt(p2mSize) * 8n;
  const p2mListPages = Number((p2mListBytes + 4095n) / 4096n);
  let p2m: PvLayout['p2m'] | undefined;
  if (kernel.p2mBase === undefined) {
    p2m = { ...a.segment('p2m list', 0n, BigInt(p2mListPages * PAGE_SIZE)), ownMapping: false, listPages: p2mListPages };
  }

  // 4-6. magic pages
  const startInfoPfn = a.page('start_info page');
  const xenstorePfn = a.page('xenstore page');
  const consolePfn = a.page('console page');

  // 7. page tables of mapping 0 (alloc_pgtables_pv): 1 boot stack page + 512 KiB padding extra.
  const extra = 1 + (512 * 1024) / PAGE_SIZE;
  let pages = extra;
  let map0: PvMapping;
  let tryVirtEnd: bigint;
  for (;;) {
    tryVirtEnd = (a.virtAllocEnd + BigInt(pages) * BigInt(PAGE_SIZE)) | bitsMask(22);
    map0 = countPgtables([], kernel.virtBase, tryVirtEnd, 0, a.pfnAllocEnd, p2mSize);
    pages = map0.area.pgtables + extra;
    if (a.virtAllocEnd + BigInt(pages) * BigInt(PAGE_SIZE) <= tryVirtEnd + 1n) break;
  }
  map0 = withPfnOffset(map0, 0, 0);
  const virtPgtabEnd = tryVirtEnd + 1n;
  const pageTables = a.segment('page tables', 0n, BigInt(map0.area.pgtables * PAGE_SIZE));

  // 8. boot stack
  const bootstackPfn = a.page('boot stack');

  // 9. pad to the end of the initial mapping, then the unmapped initrd.
  a.pad('initial mapping', virtPgtabEnd);
  let modStart = 0n;
  let modLen = 0;
  let flags = 0;
  if (initrdLength > 0 && kernel.unmappedInitrd) {
    const seg = a.segment('initrd', 0n, BigInt(initrdLength));
    initrd = { pfn: seg.pfn, pages: seg.pages, vstart: 0n, vend: 0n, mapped: false, length: initrdLength };
    flags |= SIF_MOD_START_PFN;
    modStart = BigInt(seg.pfn);
    // libxenguest reports pages*4096 here; txl reports the exact length (Linux accepts both).
    modLen = initrdLength;
  } else if (initrd) {
    modStart = initrd.vstart;
    modLen = initrd.length;
  }

  // 10. p2m list in its own mapping at INIT_P2M.
  const mappings: PvMapping[] = [map0];
  if (kernel.p2mBase !== undefined) {
    const listBytes = BigInt(p2mListPages * PAGE_SIZE);
    const from = kernel.p2mBase;
    const to = from + listBytes - 1n;
    const counted = countPgtables(mappings, from, to, a.pfnAllocEnd, a.pfnAllocEnd, p2mSize);
    const map1 = withPfnOffset(counted, a.pfnAllocEnd, p2mListPages);
    mappings.push(map1);
    const seg = a.segment('p2m list', 0n, listBytes + BigInt(map1.area.pgtables * PAGE_SIZE));
    p2m = { pfn: seg.pfn, pages: seg.pages, vstart: kernel.p2mBase, vend: kernel.p2mBase + listBytes, ownMapping: true, listPages: p2mListPages };
  }
  if (!p2m) throw new Error('unreachable: p2m segment not planned');

  const vaOf = (pfn: number) => kernel.virtBase + BigInt(pfn) * BigInt(PAGE_SIZE);
  return {
    totalPages,
    p2mSize,
    virtBase: kernel.virtBase,
    kernel: kernelSeg,
    initrd,
    p2m,
    startInfoPfn,
    xenstorePfn,
    consolePfn,
    pageTables,
    bootstackPfn,
    virtPgtabEnd,
    mappings,
    pfnAllocEnd: a.pfnAllocEnd,
    startInfo: {
      ptBase: pageTables.vstart,
      nrPtFrames: map0.area.pgtables,
      mfnList: p2m.vstart,
      firstP2mPfn: p2m.ownMapping ? p2m.pfn : 0,
      nrP2mFrames: p2m.ownMapping ? p2m.pages : 0,
      modStart,
      modLen,
      flags,
    },
    regs: { rip: kernel.virtEntry, rsp: vaOf(bootstackPfn + 1), rsi: vaOf(startInfoPfn) },
    hypercallPfn: kernel.hypercallPage === undefined ? undefined : Number((kernel.hypercallPage - kernel.virtBase) >> BigInt(PAGE_SHIFT)),
  };
}
