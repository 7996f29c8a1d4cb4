// Debian's stock kernel through the whole builder (parse, plan, build on SimulatedHypervisor, page-table walk).
import { describe, expect, it } from 'vitest';
import { buildPvDomain, decodeStartInfo, decodeVcpuContext, parseKernelFile, walk } from '../../domain-builder/index.js';
import { debianKernel } from '../../domain-builder/testing/debian.js';
import { pattern } from '../../domain-builder/testing/synthetic-kernel.js';
import { frameReader, recordPorts, simulatedDomain } from './builder-sim.js';

describe('Debian\'s linux-image-amd64 kernel', () => {
  it('parses as an xz bzImage PV kernel with INIT_P2M and MOD_START_PFN', async () => {
    const k = await parseKernelFile(debianKernel());
    expect(k.format).toBe('bzImage');
    expect(k.compression).toBe('xz');
    expect(k.virtBase).toBe(0xffff_ffff_8000_0000n);
    expect(k.virtKstart).toBe(0xffff_ffff_8100_0000n);
    expect(k.p2mBase).toBe(0x80_0000_0000n);
    expect(k.unmappedInitrd).toBe(true);
    expect(k.notes.features).toBe('!writable_page_tables|pae_pgdir_above_4gb');
    expect(k.notes.requiredFeatures).toBe(1);
  }, 600_000);

  it('builds a 512 MiB, 32 MiB-initrd guest whose tables map the kernel and whose start_info is right', async () => {
    const k = await parseKernelFile(debianKernel());
    const { hv, domid } = await simulatedDomain(512);
    const { ports, calls } = recordPorts(hv);
    const initrd = pattern(32 << 20, 11);
    const r = await buildPvDomain(k, { domid, memoryMiB: 512, cmdline: 'console=hvc0', initrd, storeEvtchn: 1, consoleEvtchn: 2 }, ports);
    const ctx = decodeVcpuContext(hv.vcpuContext(domid, 0)!);
    const read = frameReader(hv);
    const entry = walk(ctx.cr3Mfn, k.virtEntry & ~0xfffn, read);
    expect(entry).toBeDefined();
    // The entry point's page holds the kernel's bytes at that offset.
    const seg = k.segments.find((s) => k.virtEntry - k.virtBase >= s.paddr && k.virtEntry - k.virtBase < s.paddr + BigInt(s.data.length))!;
    const off = Number(k.virtEntry - k.virtBase - seg.paddr);
    expect(hv.readFrame(entry!.mfn)[Number(k.virtEntry & 0xfffn)]).toBe(seg.data[off]);
    const si = decodeStartInfo(hv.readFrame(walk(ctx.cr3Mfn, ctx.rsi, read)!.mfn));
    expect(si).toMatchObject({ nrPages: 512 * 256, modLen: 32 << 20, flags: 8, mfnList: 0x80_0000_0000n, cmdline: 'console=hvc0' });
    expect(r.layout.hypercallPfn).toBeUndefined();
    expect(calls.some((c) => c.op === 'hypercallInit')).toBe(false);
  }, 600_000);
});

describe('the fixture minikernel', () => {
  it('builds in 16 MiB (hypercall page, mapped p2m) and in 1 GiB', async () => {
    const { buildMinikernel } = await import('../../lab/fixtures/index.js');
    const k = await parseKernelFile(await buildMinikernel());
    expect(k.format).toBe('elf');
    expect(k.hypercallPage).toBeDefined();
    for (const memoryMiB of [16, 1024]) {
      const { hv, domid } = await simulatedDomain(memoryMiB);
      const { ports, calls } = recordPorts(hv);
      const r = await buildPvDomain(k, { domid, memoryMiB, cmdline: 'poweroff', storeEvtchn: 1, consoleEvtchn: 2 }, ports);
      expect(calls.filter((c) => c.op === 'hypercallInit')).toHaveLength(1);
      const ctx = decodeVcpuContext(hv.vcpuContext(domid, 0)!);
      const read = frameReader(hv);
      expect(walk(ctx.cr3Mfn, k.virtEntry & ~0xfffn, read)).toBeDefined();
      expect(r.layout.totalPages).toBe(memoryMiB * 256);
    }
  }, 600_000);
});
