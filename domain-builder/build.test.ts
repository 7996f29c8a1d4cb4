// The x86_64 PV build against in-memory ports: phase order, page-table walk, start_info, vcpu context, grants.
import { describe, expect, it } from 'vitest';
import { decodeStartInfo, decodeVcpuContext, SHARED_INFO } from './abi/structs.js';
import { buildPvDomain } from './build.js';
import { parseKernel } from './index.js';
import { isPageTablePfn, walk } from './layout/page-tables.js';
import { MemoryPorts } from './testing/memory-ports.js';
import { LINUX_PSTART, LINUX_VIRT_BASE, linuxPvNotes, pattern, syntheticElfKernel } from './testing/synthetic-kernel.js';

const DOMID = 7;

async function build(opts: { memoryMiB?: number; initrd?: Uint8Array; ports?: MemoryPorts; kernel?: Uint8Array; cmdline?: string } = {}) {
  const ports = opts.ports ?? new MemoryPorts();
  const kernel = await parseKernel(opts.kernel ?? syntheticElfKernel(), 'vmlinux');
  const result = await buildPvDomain(kernel, {
    domid: DOMID, memoryMiB: opts.memoryMiB ?? 64, cmdline: opts.cmdline ?? 'console=hvc0 root=/dev/xvda1', initrd: opts.initrd,
    storeEvtchn: 3, consoleEvtchn: 4,
  }, ports);
  // p2m as the guest sees it: read back from the p2m list pages
  return { ports, kernel, result };
}

/** Reads a guest page through the p2m the builder wrote into the guest. */
function readTableVia(ports: MemoryPorts) {
  return (mfn: number) => {
    const page = ports.frames.get(mfn);
    return page ? new DataView(page.buffer, page.byteOffset, 4096) : undefined;
  };
}

describe('buildPvDomain', () => {
  it('runs the phases in libxenguest order and leaves nothing mapped', async () => {
    const { ports, result } = await build({ initrd: pattern(100_000, 9) });
    const order = ports.calls.map((c) => c.op).filter((op, i, all) => op !== all[i - 1]);
    expect(order).toEqual([
      'xenCapabilities', 'setAddressSize', 'populatePhysmap', 'mapFrames', 'sharedInfoFrame', 'mapFrames',
      'hypercallInit', 'pinTopLevelTable', 'mapFrames', 'setVcpuContext', 'seedGrantTable',
    ]);
    expect(ports.mappedCount()).toBe(0);
    expect(ports.addressSize.get(DOMID)).toBe(64);
    expect(result.steps.at(-1)).toBe('seedGrantTable');
  });

  it('maps the kernel\'s whole virtual range to the right frames (page-table walk)', async () => {
    const { ports, kernel, result } = await build({ memoryMiB: 128, initrd: pattern(3 << 20, 5) });
    const { layout } = result;
    const ctx = decodeVcpuContext(ports.vcpuContexts.get(`${DOMID}/0`)!);
    expect(ctx.cr3Mfn).toBe(result.l4Mfn);
    expect(ports.pinned.get(DOMID)).toBe(result.l4Mfn);
    // pfn -> mfn: from the p2m list the guest will read, located through the page tables themselves
    const readTable = readTableVia(ports);
    const p2mVa = (pfn: number) => walk(ctx.cr3Mfn, layout.p2m.vstart + BigInt(pfn * 8), readTable);
    const p2mOf = (pfn: number): number => {
      const w = p2mVa(pfn);
      if (!w) throw new Error(`p2m entry ${pfn} not mapped`);
      const page = ports.frame(w.mfn);
      return Number(new DataView(page.buffer).getBigUint64((pfn % 512) * 8, true));
    };
    // every page of [virt_base, virt_pgtab_end) maps pfn (va - virt_base) >> 12
    for (let va = layout.virtBase; va < layout.virtPgtabEnd; va += 4096n) {
      const pfn = Number((va - layout.virtBase) >> 12n);
      const w = walk(ctx.cr3Mfn, va, readTable);
      expect(w?.mfn, `va 0x${va.toString(16)}`).toBe(p2mOf(pfn));
      expect(w!.writable).toBe(!isPageTablePfn(layout, pfn));
    }
    // beyond the initial mapping: nothing
    expect(walk(ctx.cr3Mfn, layout.virtPgtabEnd, readTable)).toBeUndefined();
    // the p2m list covers all memory, each entry a frame the domain owns, all distinct
    const p2m = Array.from({ length: layout.p2mSize }, (_, i) => p2mOf(i));
    expect(new Set(p2m).size).toBe(layout.p2mSize);
    expect(p2m.every((mfn) => ports.owner.get(mfn) === DOMID)).toBe(true);
    // kernel bytes are where the ELF says, read through the page tables
    for (const seg of kernel.segments) {
      for (let off = 0; off < seg.data.length; off += 4093) {
        const va = LINUX_VIRT_BASE + seg.paddr + BigInt(off);
        const w = walk(ctx.cr3Mfn, va & ~0xfffn, readTable)!;
        expect(ports.frame(w.mfn)[Number(va & 0xfffn)]).toBe(seg.data[off]);
      }
    }
  });

  it('fills start_info, the initrd, shared_info and the grant seeds', async () => {
    const initrd = pattern(200_000, 3);
    const { ports, result } = await build({ initrd, memoryMiB: 96, cmdline: 'x'.repeat(2000) });
    const { layout } = result;
    const ctx = decodeVcpuContext(ports.vcpuContexts.get(`${DOMID}/0`)!);
    expect(ctx).toMatchObject({ cs: 0xe033, ss: 0xe02b, rflags: 0x200, flags: 0x24, rip: LINUX_VIRT_BASE + LINUX_PSTART + 0x100n });
    expect(ctx.kernelSp).toBe(ctx.rsp);
    const mfnOf = (va: bigint) => walk(ctx.cr3Mfn, va, readTableVia(ports))!.mfn;
    const si = decodeStartInfo(ports.frame(mfnOf(ctx.rsi)));
    expect(si).toMatchObject({
      magic: 'xen-3.0-x86_64', nrPages: 96 * 256, sharedInfoMfn: result.sharedInfoMfn, storeMfn: result.storeMfn, storeEvtchn: 3,
      consoleMfn: result.consoleMfn, consoleEvtchn: 4, nrPtFrames: layout.startInfo.nrPtFrames, mfnList: 0x80_0000_0000n,
      modStart: BigInt(layout.initrd!.pfn), modLen: initrd.length, flags: 8,
    });
    expect(si.cmdline).toBe('x'.repeat(1023));
    // initrd: unmapped, so read it by pfn through the p2m
    const p2mOf = (pfn: number) => {
      const w = walk(ctx.cr3Mfn, layout.p2m.vstart + BigInt(pfn * 8), readTableVia(ports))!;
      return Number(new DataView(ports.frame(w.mfn).buffer).getBigUint64((pfn % 512) * 8, true));
    };
    const back = new Uint8Array(layout.initrd!.pages * 4096);
    for (let i = 0; i < layout.initrd!.pages; i++) back.set(ports.frame(p2mOf(layout.initrd!.pfn + i)), i * 4096);
    expect(Buffer.from(back.subarray(0, initrd.length)).equals(Buffer.from(initrd))).toBe(true);
    expect(back.subarray(initrd.length).every((b) => b === 0)).toBe(true);
    const shared = ports.frame(result.sharedInfoMfn);
    for (let i = 0; i < 32; i++) expect(shared[i * SHARED_INFO.VCPU_INFO_SIZE + 1]).toBe(1);
    expect(ports.grants.get(DOMID)).toEqual([{ ref: 0, backendDomid: 0, mfn: result.consoleMfn }, { ref: 1, backendDomid: 0, mfn: result.storeMfn }]);
    expect(ports.hypercallPages.get(DOMID)).toBe(mfnOf(LINUX_VIRT_BASE + LINUX_PSTART + 0x1000n));
  });

  it('builds a 4 GiB guest: 1M-entry p2m in its own mapping, sampled walk', async () => {
    const { ports, result } = await build({ memoryMiB: 4096, initrd: pattern(1 << 20, 8) });
    const { layout } = result;
    expect(layout.p2mSize).toBe(1 << 20);
    expect(layout.p2m.listPages).toBe(2048);
    const ctx = decodeVcpuContext(ports.vcpuContexts.get(`${DOMID}/0`)!);
    const read = readTableVia(ports);
    for (const pfn of [0, 1, 511, 512, 123_457, (1 << 20) - 1]) {
      const w = walk(ctx.cr3Mfn, layout.p2m.vstart + BigInt(pfn * 8), read)!;
      const mfn = Number(new DataView(ports.frame(w.mfn).buffer).getBigUint64((pfn % 512) * 8, true));
      expect(ports.owner.get(mfn)).toBe(DOMID);
    }
    expect(ports.calls.filter((c) => c.op === 'populatePhysmap').map((c) => c.args[1])).toEqual([9, 9, 9, 9]);
  });

  it('falls back to 4 KiB extents when no superpage is free', async () => {
    const { ports, result } = await build({ ports: new MemoryPorts({ noSuperpages: true }), memoryMiB: 32 });
    expect(ports.calls.filter((c) => c.op === 'populatePhysmap').map((c) => c.args[1])).toEqual([9, 0]);
    expect(result.layout.totalPages).toBe(32 * 256);
  });

  it('builds a kernel with mapped initrd and in-mapping p2m (no INIT_P2M, no MOD_START_PFN)', async () => {
    const kernel = syntheticElfKernel({ notes: linuxPvNotes({ modStartPfn: false, initP2m: null }) });
    const initrd = pattern(50_000, 4);
    const { ports, result } = await build({ kernel, initrd });
    const ctx = decodeVcpuContext(ports.vcpuContexts.get(`${DOMID}/0`)!);
    const si = decodeStartInfo(ports.frame(walk(ctx.cr3Mfn, ctx.rsi, readTableVia(ports))!.mfn));
    expect(si.flags).toBe(0);
    expect(si.modStart).toBe(result.layout.initrd!.vstart);
    const w = walk(ctx.cr3Mfn, si.modStart + 4096n, readTableVia(ports))!;
    expect(Buffer.from(ports.frame(w.mfn)).equals(Buffer.from(initrd.subarray(4096, 8192)))).toBe(true);
    expect(si.mfnList).toBe(result.layout.p2m.vstart);
    expect(si.firstP2mPfn).toBe(0);
  });

  it('fails before any hypercall when the initrd does not fit, and names the step that failed otherwise', async () => {
    const ports = new MemoryPorts();
    await expect(build({ ports, memoryMiB: 32, initrd: new Uint8Array(40 << 20) })).rejects.toMatchObject({ code: 'TXL_LAYOUT_NO_MEMORY' });
    expect(ports.calls).toEqual([]);
    await expect(build({ ports: new MemoryPorts({ failAt: 'pinTopLevelTable' }) })).rejects.toMatchObject({
      code: 'TXL_BUILD_STEP', message: expect.stringContaining('pinTopLevelTable: injected failure'),
    });
    await expect(build({ ports: new MemoryPorts({ capabilities: 'xen-3.0-x86_32p' }) })).rejects.toMatchObject({ code: 'TXL_BUILD_UNSUPPORTED' });
    await expect(build({ ports: new MemoryPorts({ freePages: 1000 }) })).rejects.toMatchObject({ code: 'TXL_BUILD_STEP', message: expect.stringContaining('populatePhysmap') });
  });
});
