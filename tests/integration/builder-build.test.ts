// The x86_64 PV build against SimulatedHypervisor: phase order, page-table walk, start_info, vcpu context,
// grants, and the failures a real host gives (no superpages, no memory, a failing hypercall).
import { describe, expect, it } from 'vitest';
import { buildPvDomain, decodeStartInfo, decodeVcpuContext, isPageTablePfn, parseKernel, SHARED_INFO, walk } from '../../domain-builder/index.js';
import { LINUX_PSTART, LINUX_VIRT_BASE, linuxPvNotes, pattern, syntheticElfKernel } from '../../domain-builder/testing/synthetic-kernel.js';
import type { SimulatorOptions } from '../../hypervisor/index.js';
import { frameReader, recordPorts, simulatedDomain, type RecordingOptions } from './builder-sim.js';

async function build(opts: { memoryMiB?: number; initrd?: Uint8Array; kernel?: Uint8Array; cmdline?: string; sim?: SimulatorOptions; ports?: RecordingOptions } = {}) {
  const memoryMiB = opts.memoryMiB ?? 64;
  const { hv, domid } = await simulatedDomain(memoryMiB, opts.sim);
  const recorded = recordPorts(hv, opts.ports);
  const kernel = await parseKernel(opts.kernel ?? syntheticElfKernel(), 'vmlinux');
  const run = () => buildPvDomain(kernel, {
    domid, memoryMiB, cmdline: opts.cmdline ?? 'console=hvc0 root=/dev/xvda1', initrd: opts.initrd, storeEvtchn: 3, consoleEvtchn: 4,
  }, recorded.ports);
  return { hv, domid, kernel, run, ...recorded };
}

async function built(opts: Parameters<typeof build>[0] = {}) {
  const b = await build(opts);
  const result = await b.run();
  const read = frameReader(b.hv);
  const ctx = decodeVcpuContext(b.hv.vcpuContext(b.domid, 0)!);
  /** The mfn of pfn as the guest will see it: from the p2m list, found through the page tables themselves. */
  const p2mOf = (pfn: number): number => {
    const w = walk(ctx.cr3Mfn, result.layout.p2m.vstart + BigInt(pfn * 8), read);
    if (!w) throw new Error(`p2m entry ${pfn} not mapped`);
    return Number(read(w.mfn).getBigUint64((pfn % 512) * 8, true));
  };
  return { ...b, result, read, ctx, p2mOf };
}

describe('buildPvDomain on the simulated host', () => {
  it('runs the phases in libxenguest order and leaves nothing mapped', async () => {
    const { calls, liveMappings, result } = await built({ initrd: pattern(100_000, 9) });
    const order = calls.map((c) => c.op).filter((op, i, all) => op !== all[i - 1]);
    expect(order).toEqual([
      'xenCapabilities', 'setAddressSize', 'populatePhysmap', 'mapFrames', 'sharedInfoFrame', 'mapFrames',
      'hypercallInit', 'pinTopLevelTable', 'mapFrames', 'setVcpuContext', 'seedGrantTable',
    ]);
    expect(liveMappings()).toBe(0);
    expect(calls.find((c) => c.op === 'setAddressSize')?.args[1]).toBe(64);
    expect(result.steps.at(-1)).toBe('seedGrantTable');
  });

  it('maps the kernel\'s whole virtual range to the right frames (page-table walk)', async () => {
    const { hv, domid, kernel, result, read, ctx, p2mOf } = await built({ memoryMiB: 128, initrd: pattern(3 << 20, 5) });
    const { layout } = result;
    expect(ctx.cr3Mfn).toBe(result.l4Mfn);
    expect(hv.isPinned(domid, result.l4Mfn)).toBe(true);
    // every page of [virt_base, virt_pgtab_end) maps pfn (va - virt_base) >> 12
    for (let va = layout.virtBase; va < layout.virtPgtabEnd; va += 4096n) {
      const pfn = Number((va - layout.virtBase) >> 12n);
      const w = walk(ctx.cr3Mfn, va, read);
      expect(w?.mfn, `va 0x${va.toString(16)}`).toBe(p2mOf(pfn));
      expect(w!.writable).toBe(!isPageTablePfn(layout, pfn));
    }
    // beyond the initial mapping: nothing
    expect(walk(ctx.cr3Mfn, layout.virtPgtabEnd, read)).toBeUndefined();
    // the p2m list is the host's physmap: every pfn, each its own frame of this domain
    const physmap = hv.physmap(domid);
    const p2m = Array.from({ length: layout.p2mSize }, (_, i) => p2mOf(i));
    expect(p2m).toEqual(Array.from({ length: layout.p2mSize }, (_, i) => physmap.get(i)));
    expect(new Set(p2m).size).toBe(layout.p2mSize);
    // kernel bytes are where the ELF says, read through the page tables (but for the hypercall page,
    // which Xen fills with its stubs at hypercall_init)
    const hypercallVa = LINUX_VIRT_BASE + LINUX_PSTART + 0x1000n;
    let compared = 0;
    for (const seg of kernel.segments) {
      for (let off = 0; off < seg.data.length; off += 4093) {
        const va = LINUX_VIRT_BASE + seg.paddr + BigInt(off);
        if ((va & ~0xfffn) === hypercallVa) continue;
        compared++;
        const w = walk(ctx.cr3Mfn, va & ~0xfffn, read)!;
        expect(hv.readFrame(w.mfn)[Number(va & 0xfffn)]).toBe(seg.data[off]);
      }
    }
    expect(compared).toBeGreaterThan(10);
  });

  it('fills start_info, the initrd, shared_info, the hypercall page and the grant seeds', async () => {
    const initrd = pattern(200_000, 3);
    const { hv, domid, result, read, ctx, p2mOf } = await built({ initrd, memoryMiB: 96, cmdline: 'x'.repeat(2000) });
    const { layout } = result;
    expect(ctx).toMatchObject({ cs: 0xe033, ss: 0xe02b, rflags: 0x200, flags: 0x24, rip: LINUX_VIRT_BASE + LINUX_PSTART + 0x100n });
    expect(ctx.kernelSp).toBe(ctx.rsp);
    const mfnOf = (va: bigint) => walk(ctx.cr3Mfn, va, read)!.mfn;
    const si = decodeStartInfo(hv.readFrame(mfnOf(ctx.rsi)));
    expect(si).toMatchObject({
      magic: 'xen-3.0-x86_64', nrPages: 96 * 256, sharedInfoMfn: result.sharedInfoMfn, storeMfn: result.storeMfn, storeEvtchn: 3,
      consoleMfn: result.consoleMfn, consoleEvtchn: 4, nrPtFrames: layout.startInfo.nrPtFrames, mfnList: 0x80_0000_0000n,
      modStart: BigInt(layout.initrd!.pfn), modLen: initrd.length, flags: 8,
    });
    expect(si.cmdline).toBe('x'.repeat(1023));
    // initrd: unmapped, so read it by pfn through the p2m
    const back = new Uint8Array(layout.initrd!.pages * 4096);
    for (let i = 0; i < layout.initrd!.pages; i++) back.set(hv.readFrame(p2mOf(layout.initrd!.pfn + i)), i * 4096);
    expect(Buffer.from(back.subarray(0, initrd.length)).equals(Buffer.from(initrd))).toBe(true);
    expect(back.subarray(initrd.length).every((b) => b === 0)).toBe(true);
    const shared = hv.readFrame(result.sharedInfoMfn);
    for (let i = 0; i < 32; i++) expect(shared[i * SHARED_INFO.VCPU_INFO_SIZE + 1]).toBe(1);
    expect(hv.grantEntries(domid)).toEqual([
      { flags: 1, domid: 0, frame: result.consoleMfn }, // GTF_permit_access to dom0: console, then xenstore
      { flags: 1, domid: 0, frame: result.storeMfn },
    ]);
    // Xen wrote its stubs (slot 1: mov $1,%eax) into the page at the kernel's HYPERCALL_PAGE address.
    const hypercallPage = hv.readFrame(mfnOf(LINUX_VIRT_BASE + LINUX_PSTART + 0x1000n));
    expect([...hypercallPage.subarray(32, 38)]).toEqual([0x51, 0x41, 0x53, 0xb8, 1, 0]);
  });

  it('builds a 4 GiB guest: 1M-entry p2m in its own mapping, sampled walk', async () => {
    const { hv, domid, calls, result, p2mOf } = await built({ memoryMiB: 4096, initrd: pattern(1 << 20, 8) });
    const { layout } = result;
    expect(layout.p2mSize).toBe(1 << 20);
    expect(layout.p2m.listPages).toBe(2048);
    const physmap = hv.physmap(domid);
    for (const pfn of [0, 1, 511, 512, 123_457, (1 << 20) - 1]) expect(p2mOf(pfn)).toBe(physmap.get(pfn));
    expect(calls.filter((c) => c.op === 'populatePhysmap').map((c) => c.args[1])).toEqual([9, 9, 9, 9]);
  }, 60_000);

  it('falls back to 4 KiB extents when no superpage is free', async () => {
    const { calls, result } = await built({ sim: { superpages: false }, memoryMiB: 32 });
    expect(calls.filter((c) => c.op === 'populatePhysmap').map((c) => c.args[1])).toEqual([9, 0]);
    expect(result.layout.totalPages).toBe(32 * 256);
  });

  it('builds a kernel with mapped initrd and in-mapping p2m (no INIT_P2M, no MOD_START_PFN)', async () => {
    const kernel = syntheticElfKernel({ notes: linuxPvNotes({ modStartPfn: false, initP2m: null }) });
    const initrd = pattern(50_000, 4);
    const { hv, result, read, ctx } = await built({ kernel, initrd });
    const si = decodeStartInfo(hv.readFrame(walk(ctx.cr3Mfn, ctx.rsi, read)!.mfn));
    expect(si.flags).toBe(0);
    expect(si.modStart).toBe(result.layout.initrd!.vstart);
    const w = walk(ctx.cr3Mfn, si.modStart + 4096n, read)!;
    expect(Buffer.from(hv.readFrame(w.mfn)).equals(Buffer.from(initrd.subarray(4096, 8192)))).toBe(true);
    expect(si.mfnList).toBe(result.layout.p2m.vstart);
    expect(si.firstP2mPfn).toBe(0);
  });

  it('fails before any hypercall when the initrd does not fit, and names the step that failed otherwise', async () => {
    const tooBig = await build({ memoryMiB: 32, initrd: new Uint8Array(40 << 20) });
    await expect(tooBig.run()).rejects.toMatchObject({ code: 'TXL_LAYOUT_NO_MEMORY' });
    expect(tooBig.calls).toEqual([]);
    await expect((await build({ ports: { failAt: 'pinTopLevelTable' } })).run()).rejects.toMatchObject({
      code: 'TXL_BUILD_STEP', message: expect.stringContaining('pinTopLevelTable: injected failure'),
    });
    await expect((await build({ ports: { capabilities: 'xen-3.0-x86_32p' } })).run()).rejects.toMatchObject({ code: 'TXL_BUILD_UNSUPPORTED' });
    // A host with 4 MiB free: Xen gives part of the guest's memory, then ENOMEM.
    await expect((await build({ sim: { totalMemoryMiB: 4 } })).run()).rejects.toMatchObject({ code: 'TXL_BUILD_STEP', message: expect.stringContaining('populatePhysmap') });
  });
});
