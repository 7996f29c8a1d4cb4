// Golden layouts: the allocation order and page-table counts of libxenguest, checked on known cases.
import { describe, expect, it } from 'vitest';
import type { KernelImage } from '../kernel/pv-kernel.js';
import { readXenNotes } from '../kernel/xen-notes.js';
import { planPvLayout, SIF_MOD_START_PFN } from './pv-layout.js';

/** A KernelImage with only the fields the planner reads (addresses of a Linux PV kernel). */
function kernelAt(opts: { kend: bigint; p2mBase?: bigint; unmapped?: boolean; kstart?: bigint }): KernelImage {
  const virtBase = 0xffff_ffff_8000_0000n;
  const kstart = opts.kstart ?? 0xffff_ffff_8100_0000n;
  return {
    source: 'golden', format: 'elf', compression: 'none', guestType: 'xen-3.0-x86_64',
    notes: readXenNotes({ bytes: new Uint8Array(), machine: 62, entry: 0n, programHeaders: [], sectionHeaders: [] }, 'golden'),
    virtBase, paddrOffset: 0n, virtKstart: kstart, virtKend: opts.kend, virtEntry: kstart + 0x1000n,
    hypercallPage: kstart + 0x2000n, p2mBase: opts.p2mBase, unmappedInitrd: opts.unmapped ?? false,
    pstart: kstart - virtBase, pend: opts.kend - virtBase, segments: [],
  };
}

describe('planPvLayout', () => {
  it('matches the worked example of xen-reference.md 6.5 (1 GiB, 40 MiB initrd, INIT_P2M, MOD_START_PFN)', () => {
    const layout = planPvLayout(kernelAt({ kend: 0xffff_ffff_82c2_c000n, p2mBase: 0x80_0000_0000n, unmapped: true }), {
      totalPages: 0x40000, initrdLength: 40 << 20,
    });
    expect(layout.kernel).toEqual({ pfn: 0x1000, pages: 0x1c2c, vstart: 0xffff_ffff_8100_0000n, vend: 0xffff_ffff_82c2_c000n });
    expect([layout.startInfoPfn, layout.xenstorePfn, layout.consolePfn]).toEqual([0x2c2c, 0x2c2d, 0x2c2e]);
    expect(layout.pageTables.pfn).toBe(0x2c2f);
    expect(layout.pageTables.pages).toBe(27);
    expect(layout.startInfo.nrPtFrames).toBe(27);
    expect(layout.mappings[0]!.lvls.map((l) => l.pgtables)).toEqual([24, 1, 1, 1]);
    expect(layout.virtPgtabEnd).toBe(0xffff_ffff_8300_0000n);
    expect(layout.bootstackPfn).toBe(0x2c4a);
    expect(layout.initrd).toMatchObject({ pfn: 0x3000, pages: 0x2800, mapped: false });
    expect(layout.startInfo.modStart).toBe(0x3000n);
    expect(layout.startInfo.flags & SIF_MOD_START_PFN).toBe(SIF_MOD_START_PFN);
    expect(layout.p2m).toMatchObject({ pfn: 0x5800, pages: 0x200 + 3, ownMapping: true, vstart: 0x80_0000_0000n });
    expect(layout.mappings[1]!.lvls.map((l) => l.pfn)).toEqual([0x5a02, 0x5a01, 0x5a00, 0x5a00]);
    expect(layout.startInfo).toMatchObject({ mfnList: 0x80_0000_0000n, firstP2mPfn: 0x5800, nrP2mFrames: 0x203, ptBase: 0xffff_ffff_82c2_f000n });
    expect(layout.regs.rsp).toBe(0xffff_ffff_82c4_b000n);
    expect(layout.regs.rsi).toBe(0xffff_ffff_82c2_c000n);
    expect(layout.hypercallPfn).toBe(0x1002);
  });

  it('puts initrd and p2m inside the initial mapping for kernels without INIT_P2M / MOD_START_PFN', () => {
    const layout = planPvLayout(kernelAt({ kend: 0xffff_ffff_8120_0000n }), { totalPages: 0x8000, initrdLength: 3 * 4096 + 10 });
    expect(layout.initrd).toMatchObject({ pfn: 0x1200, pages: 4, mapped: true, vstart: 0xffff_ffff_8120_0000n, length: 3 * 4096 + 10 });
    expect(layout.startInfo.modStart).toBe(0xffff_ffff_8120_0000n);
    expect(layout.startInfo.flags).toBe(0);
    expect(layout.p2m).toMatchObject({ pfn: 0x1204, pages: 0x40, ownMapping: false, vstart: 0xffff_ffff_8120_4000n });
    expect(layout.startInfo.mfnList).toBe(0xffff_ffff_8120_4000n);
    expect(layout.startInfo.firstP2mPfn).toBe(0);
    expect(layout.mappings).toHaveLength(1);
    expect(layout.startInfoPfn).toBe(0x1244);
    // everything up to the boot stack lies below the 4 MiB aligned end, with 512 KiB to spare
    expect(layout.virtPgtabEnd - (layout.virtBase + BigInt(layout.bootstackPfn + 1) * 4096n)).toBeGreaterThanOrEqual(512n * 1024n);
  });

  it('scales to 4 GiB and 64 GiB guests (p2m tables grow, mapping 0 does not)', () => {
    const k = kernelAt({ kend: 0xffff_ffff_82c2_c000n, p2mBase: 0x80_0000_0000n, unmapped: true });
    const four = planPvLayout(k, { totalPages: 4 << 18, initrdLength: 64 << 20 });
    expect(four.p2m.listPages).toBe(2048);
    expect(four.mappings[1]!.lvls.map((l) => l.pgtables)).toEqual([4, 1, 1, 0]);
    expect(four.startInfo.nrPtFrames).toBe(27);
    const big = planPvLayout(k, { totalPages: 64 << 18 });
    expect(big.p2m.listPages).toBe(32768);
    expect(big.mappings[1]!.lvls.map((l) => l.pgtables)).toEqual([64, 1, 1, 0]);
  });

  it('refuses a kernel or initrd that does not fit, naming it', () => {
    const k = kernelAt({ kend: 0xffff_ffff_82c2_c000n, p2mBase: 0x80_0000_0000n, unmapped: true });
    expect(() => planPvLayout(k, { totalPages: 16 * 256 })).toThrow(/kernel.*does not fit in the guest's 16 MiB/);
    expect(() => planPvLayout(k, { totalPages: 64 * 256, initrdLength: 40 << 20 })).toThrow(/initrd \(40 MiB\) does not fit in the guest's 64 MiB/);
    try { planPvLayout(k, { totalPages: 64 * 256, initrdLength: 40 << 20 }); } catch (e) { expect((e as { code: string }).code).toBe('TXL_LAYOUT_NO_MEMORY'); }
  });

  it('fits a small kernel in 16 MiB', () => {
    const small = kernelAt({ kstart: 0xffff_ffff_8000_0000n, kend: 0xffff_ffff_8001_0000n, p2mBase: 0x80_0000_0000n, unmapped: true });
    const l = planPvLayout(small, { totalPages: 16 * 256 });
    expect(l.kernel.pfn).toBe(0);
    expect(l.pfnAllocEnd).toBeLessThanOrEqual(16 * 256);
  });
});
