// Fills the initial x86_64 page tables of a planned layout, and walks them (for tests and diagnostics).
//
// Mirrors setup_pgtables_pv / get_pg_prot in tools/libs/guest/xg_dom_x86.c (stable-4.17): entries
// hold machine addresses (mfn << 12) | prot; L1 entries that map a page-table page are read-only.
// Page-table bit values are x86's (_PAGE_PRESENT 0x1, _PAGE_RW 0x2, _PAGE_USER 0x4,
// _PAGE_ACCESSED 0x20, _PAGE_DIRTY 0x40; xen/arch/x86/include/asm/x86_64/page.h).
import { PAGE_SHIFT, PGTBL_LEVELS, type PvLayout, type PvMapping, type PvMappingLevel } from './pv-layout.js';

/** m.lvls[l] for a level number known to be 0..3. */
function level(m: PvMapping, l: number): PvMappingLevel {
  const lv = m.lvls[l];
  if (!lv) throw new RangeError(`no page-table level ${l}`);
  return lv;
}

export const PAGE_PRESENT = 0x1;
export const PAGE_RW = 0x2;
export const PAGE_USER = 0x4;
export const PAGE_ACCESSED = 0x20;
export const PAGE_DIRTY = 0x40;
/** L1 protection (x86_64_params.lvl_prot[0]). */
export const L1_PROT = PAGE_PRESENT | PAGE_RW | PAGE_ACCESSED;
/** L2-L4 protection (lvl_prot[1..3]). */
export const UPPER_PROT = PAGE_PRESENT | PAGE_RW | PAGE_ACCESSED | PAGE_DIRTY | PAGE_USER;

/** The guest's pfn -> mfn table. */
export type P2m = ArrayLike<number>;

/** Writes a 64-bit entry `(mfn << 12) | prot` at index `i` of a table page, without bigint. */
export function setEntry(table: DataView, i: number, mfn: number, prot: number): void {
  // mfn < 2^40: low word = low 20 bits of mfn << 12 | prot, high word = mfn >> 20.
  table.setUint32(i * 8, ((mfn % 0x100000) * 4096 + prot) >>> 0, true);
  table.setUint32(i * 8 + 4, Math.floor(mfn / 0x100000), true);
}

/** Reads entry `i` of a table page as {mfn, flags} (flags = low 12 bits plus NX in bit 63 ignored). */
export function getEntry(table: DataView, i: number): { mfn: number; flags: number } {
  const lo = table.getUint32(i * 8, true);
  const hi = table.getUint32(i * 8 + 4, true) & 0x000f_ffff;
  return { mfn: hi * 0x100000 + Math.floor(lo / 4096), flags: lo & 0xfff };
}

/** True when `pfn` is one of the layout's page-table pages (they must be mapped read-only). */
export function isPageTablePfn(layout: PvLayout, pfn: number): boolean {
  for (const m of layout.mappings) {
    const start = level(m, PGTBL_LEVELS - 1).pfn;
    if (pfn >= start && pfn < start + m.area.pgtables) return true;
  }
  return false;
}

/**
 * Fills every page-table page of the layout. `table(pfn)` returns a writable 4 KiB view of that
 * guest page (zeroed beforehand); `p2m` translates pfns to mfns.
 */
export function fillPageTables(layout: PvLayout, p2m: P2m, table: (pfn: number) => DataView): void {
  const maps = layout.mappings;
  for (let l = PGTBL_LEVELS - 1; l >= 0; l--) {
    for (const m1 of maps) {
      const { from, to, pfn: firstTable } = level(m1, l);
      const shift = BigInt(PAGE_SHIFT + l * 9);
      for (const m2 of maps) {
        const lvl = l > 0 ? level(m2, l - 1) : m2.area;
        if (l > 0 && lvl.pgtables === 0) continue;
        if (lvl.from >= to || lvl.to <= from) continue;
        const lo = from > lvl.from ? from : lvl.from;
        const hi = to < lvl.to ? to : lvl.to;
        const pS = Number((lo - from) >> shift);
        const pE = Number((hi - from) >> shift);
        let pfn = Number((lo - lvl.from) >> shift) + lvl.pfn;
        for (let p = pS; p <= pE; p++) {
          // The level's tables are consecutive pages: entry p lives in page p >> 9 at slot p & 511.
          const page = table(firstTable + Math.floor(p / 512));
          const mfn = p2m[pfn];
          if (mfn === undefined) throw new RangeError(`page-table entry for pfn ${pfn} beyond the p2m (${p2m.length})`);
          const prot = l > 0 ? UPPER_PROT : isPageTablePfn(layout, pfn) ? L1_PROT & ~PAGE_RW : L1_PROT;
          setEntry(page, p % 512, mfn, prot);
          pfn++;
        }
      }
    }
  }
}

/** Result of a 4-level walk. */
export interface WalkResult {
  readonly mfn: number;
  /** Flags of the L1 entry. */
  readonly flags: number;
  readonly writable: boolean;
}

/**
 * Walks the 4-level tables from the L4 at machine frame `cr3Mfn` for virtual address `va`;
 * `readTable(mfn)` returns the table page. Undefined when an entry is not present.
 */
export function walk(cr3Mfn: number, va: bigint, readTable: (mfn: number) => DataView | undefined): WalkResult | undefined {
  let mfn = cr3Mfn;
  let writable = true;
  for (let l = PGTBL_LEVELS - 1; l >= 0; l--) {
    const t = readTable(mfn);
    if (!t) return undefined;
    const idx = Number((va >> BigInt(PAGE_SHIFT + l * 9)) & 511n);
    const e = getEntry(t, idx);
    if ((e.flags & PAGE_PRESENT) === 0) return undefined;
    writable &&= (e.flags & PAGE_RW) !== 0;
    mfn = e.mfn;
    if (l === 0) return { mfn, flags: e.flags, writable };
  }
  return undefined;
}
