// Kernel loader table: ELF and bzImage with every payload compression, and the typed refusals; image sources.
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openImageSource, parseKernel, parseKernelFile } from '../index.js';
import { isDomainBuilderError } from '../errors.js';
import { compressPayload } from '../testing/compress.js';
import { LINUX_PSTART, LINUX_VIRT_BASE, linuxPvNotes, pattern, syntheticBzImage, syntheticElfKernel, withSizeTrailer } from '../testing/synthetic-kernel.js';
import { DECOMPRESSORS, type Compression } from './decompress.js';
import { XEN_ELFNOTE } from './xen-notes.js';

async function refusal(bytes: Uint8Array): Promise<{ code: string; message: string }> {
  try {
    await parseKernel(bytes, 'k');
  } catch (error) {
    if (isDomainBuilderError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('kernel was accepted');
}

describe('ELF kernels', () => {
  it('parses a Linux-shaped PV vmlinux', async () => {
    const k = await parseKernel(syntheticElfKernel(), 'vmlinux');
    expect(k.format).toBe('elf');
    expect(k.virtBase).toBe(LINUX_VIRT_BASE);
    expect(k.virtKstart).toBe(LINUX_VIRT_BASE + LINUX_PSTART);
    expect(k.virtKend).toBe(LINUX_VIRT_BASE + LINUX_PSTART + 0x10000n + 8192n + 16384n);
    expect(k.virtEntry).toBe(k.virtKstart + 0x100n);
    expect(k.p2mBase).toBe(0x80_0000_0000n);
    expect(k.unmappedInitrd).toBe(true);
    expect(k.hypercallPage).toBe(k.virtKstart + 0x1000n);
    expect(k.segments).toHaveLength(2);
    expect(k.notes.source).toBe('PT_NOTE');
    expect(k.notes.requiredFeatures).toBe(1); // !writable_page_tables
    expect(k.notes.supportedFeatures & 0x901).toBe(0x901);
  });

  it('falls back to SHT_NOTE sections, then to __xen_guest', async () => {
    const k = await parseKernel(syntheticElfKernel({ noteLocation: 'section' }), 'k');
    expect(k.notes.source).toBe('SHT_NOTE');
    const legacy = await parseKernel(syntheticElfKernel({
      notes: [],
      xenGuest: 'GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0xffffffff80000000,ELF_PADDR_OFFSET=0x0,VIRT_ENTRY=0xffffffff81000100,HYPERCALL_PAGE=0x1001,LOADER=generic',
    }), 'k');
    expect(legacy.notes.source).toBe('__xen_guest');
    expect(legacy.virtEntry).toBe(0xffff_ffff_8100_0100n);
    expect(legacy.hypercallPage).toBe(0xffff_ffff_8100_1000n);
    expect(legacy.p2mBase).toBeUndefined();
    expect(legacy.unmappedInitrd).toBe(false);
  });

  it('refuses a kernel without Xen notes: needs CONFIG_XEN_PV', async () => {
    const r = await refusal(syntheticElfKernel({ notes: [] }));
    expect(r.code).toBe('TXL_KERNEL_NOT_PV');
    expect(r.message).toContain('no Xen PV entry note: the kernel needs CONFIG_XEN_PV');
  });

  it('refuses a PVH-only kernel', async () => {
    const notes = linuxPvNotes().filter((n) => n.type !== XEN_ELFNOTE.ENTRY);
    notes.push({ type: XEN_ELFNOTE.PHYS32_ENTRY, num: 0x1000000n, size: 4 });
    const r = await refusal(syntheticElfKernel({ notes }));
    expect(r.code).toBe('TXL_KERNEL_NOT_PV');
    expect(r.message).toMatch(/PVH.*CONFIG_XEN_PV/);
  });

  it('refuses 32-bit and foreign kernels with the architecture named', async () => {
    const elf32 = Buffer.alloc(52);
    elf32.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
    elf32.writeUInt16LE(3, 18);
    expect(await refusal(elf32)).toMatchObject({ code: 'TXL_KERNEL_WRONG_ARCH', message: expect.stringContaining('32-bit PV is not supported') });
    expect(await refusal(syntheticElfKernel({ machine: 183 }))).toMatchObject({ code: 'TXL_KERNEL_WRONG_ARCH', message: expect.stringContaining('arm64 image') });
    const arm64Image = Buffer.alloc(0x40);
    arm64Image.write('MZ', 0);
    arm64Image.write('ARMd', 0x38, 'latin1');
    expect(await refusal(arm64Image)).toMatchObject({ code: 'TXL_KERNEL_WRONG_ARCH', message: expect.stringContaining('arm64 image') });
  });

  it('refuses dom0-only kernels, unknown required features and bad entry points', async () => {
    const dom0 = linuxPvNotes().map((n) => (n.type === XEN_ELFNOTE.FEATURES ? { type: n.type, str: '!dom0' } : n));
    expect((await refusal(syntheticElfKernel({ notes: dom0 }))).message).toContain('domU');
    const unknown = linuxPvNotes().map((n) => (n.type === XEN_ELFNOTE.FEATURES ? { type: n.type, str: '!warp_drive' } : n));
    expect((await refusal(syntheticElfKernel({ notes: unknown }))).message).toContain('warp_drive');
    expect((await refusal(syntheticElfKernel({ notes: linuxPvNotes({ entryOffset: 0x1000000n }) }))).code).toBe('TXL_KERNEL_MALFORMED');
  });

  it('reports empty, truncated, garbage, directories and missing files clearly', async () => {
    expect((await refusal(new Uint8Array())).code).toBe('TXL_KERNEL_EMPTY');
    const full = syntheticElfKernel();
    expect((await refusal(full.subarray(0, 40))).code).toBe('TXL_KERNEL_TRUNCATED');
    expect((await refusal(full.subarray(0, 0x1100))).code).toBe('TXL_KERNEL_TRUNCATED');
    expect((await refusal(Buffer.from('#!/bin/sh\necho not a kernel\n'))).code).toBe('TXL_KERNEL_UNRECOGNISED');
    const dir = mkdtempSync(join(tmpdir(), 'txl-kernel-'));
    mkdirSync(join(dir, 'd'));
    await expect(parseKernelFile(join(dir, 'd'))).rejects.toMatchObject({ code: 'TXL_KERNEL_READ', message: expect.stringContaining('is a directory') });
    await expect(parseKernelFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'TXL_KERNEL_READ', message: expect.stringContaining('no such file') });
    writeFileSync(join(dir, 'empty'), '');
    await expect(parseKernelFile(join(dir, 'empty'))).rejects.toMatchObject({ code: 'TXL_KERNEL_EMPTY' });
  });
});

describe('bzImage payloads', () => {
  const vmlinux = syntheticElfKernel({ textSize: 256 * 1024 });
  for (const d of DECOMPRESSORS) {
    const format: Compression = d.name;
    it(`loads a ${format} payload`, async () => {
      const image = syntheticBzImage(compressPayload(vmlinux, format));
      const k = await parseKernel(image, `bzImage.${format}`);
      expect(k.format).toBe('bzImage');
      expect(k.compression).toBe(format);
      expect(Buffer.from(k.segments[0]!.data).equals(Buffer.from(vmlinux.subarray(0x1000, 0x1000 + 256 * 1024)))).toBe(true);
    });
    it(`reports a corrupt ${format} payload as such`, async () => {
      const payload = Buffer.from(compressPayload(vmlinux, format));
      for (let i = 16; i < payload.length - 8; i += 97) payload[i] = payload[i]! ^ 0x5a;
      const r = await refusal(syntheticBzImage(payload));
      expect(['TXL_KERNEL_CORRUPT_PAYLOAD', 'TXL_KERNEL_UNRECOGNISED']).toContain(r.code);
    });
  }

  it('loads a whole-file gzip vmlinux (libxenguest gunzips the file first)', async () => {
    const k = await parseKernel(compressPayload(vmlinux, 'gzip'), 'vmlinux.gz');
    expect(k.format).toBe('gzip-elf');
  });

  it('refuses old boot protocols, bad payload bounds and unknown compressions', async () => {
    const good = compressPayload(vmlinux, 'gzip');
    expect((await refusal(syntheticBzImage(good, 0x0206))).message).toContain('too old');
    const cut = syntheticBzImage(good);
    expect((await refusal(cut.subarray(0, cut.length - 100))).code).toBe('TXL_KERNEL_TRUNCATED');
    expect((await refusal(syntheticBzImage(withSizeTrailer(Buffer.from('JUNKJUNKJUNK'), 5)))).message).toContain('unknown payload compression');
  });
});

describe('openImageSource (the initrd, read straight into guest pages)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'txl-source-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sizes the file first and reads it, in chunks, into the target', async () => {
    const path = join(dir, 'initrd');
    const data = pattern((9 << 20) + 123, 6); // more than one 4 MiB read
    writeFileSync(path, data);
    const source = await openImageSource(path, 'initrd');
    expect(source.length).toBe(data.length);
    const target = new Uint8Array(data.length);
    await source.readInto(target);
    expect(Buffer.from(target).equals(Buffer.from(data))).toBe(true);
  });

  it('names a missing file and a directory like readImageFile', async () => {
    await expect(openImageSource(join(dir, 'nope'), 'initrd')).rejects.toMatchObject({ code: 'TXL_INITRD_READ', message: `initrd ${join(dir, 'nope')}: no such file` });
    await expect(openImageSource(dir, 'initrd')).rejects.toMatchObject({ code: 'TXL_INITRD_READ', message: `initrd ${dir} is a directory, not a file` });
  });

  it('refuses a file that changed size between the check and the build', async () => {
    const path = join(dir, 'changing');
    writeFileSync(path, new Uint8Array(10_000));
    const source = await openImageSource(path, 'initrd');
    writeFileSync(path, new Uint8Array(5_000));
    await expect(source.readInto(new Uint8Array(10_000))).rejects.toMatchObject({
      code: 'TXL_INITRD_READ', message: expect.stringContaining('changed while the domain was built (10000 bytes when checked, 5000 now)'),
    });
  });
});
