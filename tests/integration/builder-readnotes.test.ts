// `txl readnotes` against Xen's own readnotes: Debian's stock kernel, synthetic kernels of every note shape.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { CACHE_DIR, debianKernel, xenReadnotes } from '../../domain-builder/testing/debian.js';
import { encodeNotes, linuxPvNotes, syntheticBzImage, syntheticElfKernel } from '../../domain-builder/testing/synthetic-kernel.js';
import { XEN_ELFNOTE } from '../../domain-builder/kernel/xen-notes.js';
import { buildMinikernel } from '../../lab/fixtures/index.js';
import { runTxl } from './cli.test.js';

function reference(path: string): { stdout: string; stderr: string; status: number } {
  const r = spawnSync(xenReadnotes(), [path], { encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

let work: string;
beforeAll(() => {
  work = join(CACHE_DIR, 'readnotes-parity');
  mkdirSync(work, { recursive: true });
}, 600_000);

describe('txl readnotes = Xen readnotes', () => {
  it('on Debian\'s stock kernel (xz bzImage; readnotes reads the vmlinux that xz -d extracts)', async () => {
    const vmlinuz = debianKernel();
    const image = readFileSync(vmlinuz);
    const off = (image[0x1f1]! + 1) * 512 + image.readUInt32LE(0x248);
    const len = image.readUInt32LE(0x24c);
    // Independent extraction with the xz tool (the payload carries a 4-byte size trailer).
    const vmlinux = execFileSync('xz', ['-dc', '--single-stream'], { input: image.subarray(off, off + len - 4), maxBuffer: 1 << 30 });
    const vmlinuxPath = join(work, 'debian-vmlinux');
    writeFileSync(vmlinuxPath, vmlinux);
    const ref = reference(vmlinuxPath);
    expect(ref.status).toBe(0);
    expect(ref.stdout).toContain('ENTRY: 0xffffffff');
    const ours = await runTxl(['readnotes', vmlinuz]);
    expect(ours.status).toBe(0);
    expect(ours.out).toBe(ref.stdout);
    const ofElf = await runTxl(['readnotes', vmlinuxPath]);
    expect(ofElf.out).toBe(ref.stdout);
  }, 600_000);

  it('on the fixture minikernel (lab/fixtures)', async () => {
    const minikernel = await buildMinikernel();
    const ref = reference(minikernel);
    expect(ref.status).toBe(0);
    expect(ref.stdout).toContain('HYPERCALL_PAGE');
    const ours = await runTxl(['readnotes', minikernel]);
    expect(ours.status).toBe(0);
    expect(ours.out).toBe(ref.stdout);
    expect(ours.err).toBe(ref.stderr);
  }, 600_000);

  const shapes: [string, () => Uint8Array][] = [
    ['a Linux-shaped PV vmlinux', () => syntheticElfKernel()],
    ['a gzip bzImage (the one compression readnotes itself opens)', () => syntheticBzImage(gzipSync(syntheticElfKernel()))],
    ['notes only in an SHT_NOTE section', () => syntheticElfKernel({ noteLocation: 'section' })],
    ['a legacy __xen_guest section', () => syntheticElfKernel({ notes: [], xenGuest: 'GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0xffffffff80000000' })],
    ['odd note sizes, zero values, unknown types and foreign names', () => syntheticElfKernel({
      notes: [
        { type: XEN_ELFNOTE.ENTRY, num: 0n, size: 8 },
        { type: XEN_ELFNOTE.VIRT_BASE, num: 0x1234n, size: 2 },
        { type: XEN_ELFNOTE.PADDR_OFFSET, num: 7n, size: 1 },
        { type: XEN_ELFNOTE.HV_START_LOW, raw: Uint8Array.from([1, 2, 3]) },
        { type: XEN_ELFNOTE.L1_MFN_VALID, raw: Uint8Array.from([1, 0, 0, 0, 2, 0, 0, 0]) },
        { type: XEN_ELFNOTE.L1_MFN_VALID, raw: Uint8Array.from([1, 2, 3]) },
        { type: XEN_ELFNOTE.INFO, str: 'hello' },
        { type: XEN_ELFNOTE.BSD_SYMTAB, str: 'yes' },
        { type: 0x77, num: 1n, size: 4 },
        { type: XEN_ELFNOTE.GUEST_OS, str: 'not-xen', name: 'GNU' },
        { type: XEN_ELFNOTE.PHYS32_ENTRY, num: 0x1000000n, size: 4 },
        ...linuxPvNotes(),
      ],
    })],
    ['no Xen notes at all', () => syntheticElfKernel({ notes: [{ type: 3, num: 1n, size: 4, name: 'GNU' }] })],
  ];
  for (const [what, make] of shapes) {
    it(`on ${what}`, async () => {
      const path = join(work, what.replace(/[^a-z0-9]+/gi, '-'));
      writeFileSync(path, make());
      const ref = reference(path);
      const ours = await runTxl(['readnotes', path]);
      expect(ours.status).toBe(ref.status);
      expect(ours.out).toBe(ref.stdout);
      expect(ours.err).toBe(ref.stderr);
    }, 120_000);
  }

  it('encodes notes the same way the parser reads them', () => {
    expect(encodeNotes([{ type: 1, num: 5n, size: 4 }]).length).toBe(12 + 4 + 4);
  });
});
