// Builds small synthetic PV kernels (ELF64 with Xen notes, optionally wrapped in a bzImage) for tests and fuzzing.
//
// The images have the shape of a Linux x86_64 PV vmlinux: PT_LOAD segments at paddr 16 MiB,
// a PT_NOTE segment with the notes of arch/x86/xen/xen-head.S, VIRT_BASE 0xffffffff80000000.
import { XEN_ELFNOTE } from '../kernel/xen-notes.js';

/** One note to emit: numeric (bigint, with a byte size) or string. */
export type SyntheticNote =
  | { readonly type: number; readonly num: bigint; readonly size?: 1 | 2 | 4 | 8; readonly name?: string }
  | { readonly type: number; readonly str: string; readonly name?: string }
  | { readonly type: number; readonly raw: Uint8Array; readonly name?: string };

/** Options of a synthetic kernel. */
export interface SyntheticKernelOptions {
  /** Kernel text size in bytes (default 64 KiB). */
  readonly textSize?: number;
  /** Extra bss (memsz beyond filesz) of the data segment (default 16 KiB). */
  readonly bssSize?: number;
  /** Notes to emit (default: linuxPvNotes()). Pass [] for a kernel without Xen notes. */
  readonly notes?: readonly SyntheticNote[];
  /** Where the notes go: a PT_NOTE segment (default), only an SHT_NOTE section, or a legacy __xen_guest string. */
  readonly noteLocation?: 'phdr' | 'section';
  readonly xenGuest?: string;
  /** e_machine (default 62, x86_64). */
  readonly machine?: number;
}

/** Linux's virtual base (__START_KERNEL_map). */
export const LINUX_VIRT_BASE = 0xffff_ffff_8000_0000n;
/** Physical load address of Linux x86_64 (CONFIG_PHYSICAL_START). */
export const LINUX_PSTART = 0x100_0000n;

/** The notes a Linux 6.x PV kernel carries (arch/x86/xen/xen-head.S), entry at kstart+0x100. */
export function linuxPvNotes(opts: { entryOffset?: bigint; hypercallOffset?: bigint; modStartPfn?: boolean; initP2m?: bigint | null } = {}): SyntheticNote[] {
  const kstart = LINUX_VIRT_BASE + LINUX_PSTART;
  const notes: SyntheticNote[] = [
    { type: XEN_ELFNOTE.GUEST_OS, str: 'linux' },
    { type: XEN_ELFNOTE.GUEST_VERSION, str: '2.6' },
    { type: XEN_ELFNOTE.XEN_VERSION, str: 'xen-3.0' },
    { type: XEN_ELFNOTE.VIRT_BASE, num: LINUX_VIRT_BASE, size: 8 },
    { type: XEN_ELFNOTE.ENTRY, num: kstart + (opts.entryOffset ?? 0x100n), size: 8 },
    { type: XEN_ELFNOTE.FEATURES, str: '!writable_page_tables' },
    { type: XEN_ELFNOTE.PAE_MODE, str: 'yes' },
    { type: XEN_ELFNOTE.L1_MFN_VALID, raw: Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]) },
    { type: XEN_ELFNOTE.PADDR_OFFSET, num: 0n, size: 8 },
    { type: XEN_ELFNOTE.HYPERCALL_PAGE, num: kstart + (opts.hypercallOffset ?? 0x1000n), size: 8 },
    { type: XEN_ELFNOTE.SUPPORTED_FEATURES, num: 0x901n, size: 4 },
    { type: XEN_ELFNOTE.SUSPEND_CANCEL, num: 1n, size: 4 },
  ];
  if (opts.initP2m !== null) notes.splice(4, 0, { type: XEN_ELFNOTE.INIT_P2M, num: opts.initP2m ?? 0x80_0000_0000n, size: 8 });
  if (opts.modStartPfn !== false) notes.push({ type: XEN_ELFNOTE.MOD_START_PFN, num: 1n, size: 4 });
  return notes;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Encodes notes as a note area (name "Xen" unless given). */
export function encodeNotes(notes: readonly SyntheticNote[]): Uint8Array {
  const parts: Buffer[] = [];
  for (const n of notes) {
    const name = Buffer.from(`${n.name ?? 'Xen'}\0`, 'latin1');
    let desc: Buffer;
    if ('num' in n) {
      const size = n.size ?? 8;
      desc = Buffer.alloc(size);
      for (let i = 0; i < size; i++) desc[i] = Number((n.num >> BigInt(8 * i)) & 0xffn);
    } else if ('str' in n) desc = Buffer.from(`${n.str}\0`, 'latin1');
    else desc = Buffer.from(n.raw);
    const head = Buffer.alloc(12);
    head.writeUInt32LE(name.length, 0);
    head.writeUInt32LE(desc.length, 4);
    head.writeUInt32LE(n.type, 8);
    parts.push(head, name, Buffer.alloc(pad4(name.length) - name.length), desc, Buffer.alloc(pad4(desc.length) - desc.length));
  }
  return Buffer.concat(parts);
}

/** Deterministic filler so that loaded bytes can be checked. */
export function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * An ELF64 PV kernel: text segment (R X) at paddr 16 MiB, data segment (R W) right after it with
 * bss, notes segment, section headers (.text, .data, .notes or __xen_guest, .shstrtab).
 */
export function syntheticElfKernel(options: SyntheticKernelOptions = {}): Uint8Array {
  const textSize = options.textSize ?? 64 * 1024;
  const bssSize = options.bssSize ?? 16 * 1024;
  const dataSize = 8192;
  const notes = encodeNotes(options.notes ?? linuxPvNotes());
  const withNotes = notes.length > 0 && options.noteLocation !== 'section';
  const guest = options.xenGuest === undefined ? undefined : Buffer.from(`${options.xenGuest}\0`, 'latin1');

  const phnum = 2 + (withNotes ? 1 : 0);
  const textOff = 0x1000;
  const dataOff = textOff + textSize;
  const notesOff = dataOff + dataSize;
  const guestOff = notesOff + notes.length;
  const shstr = Buffer.from(`\0.text\0.data\0.notes\0__xen_guest\0.shstrtab\0`, 'latin1');
  const shstrOff = guestOff + (guest?.length ?? 0);
  const shOff = (shstrOff + shstr.length + 7) & ~7;
  const sections: { name: number; type: number; offset: number; size: number }[] = [
    { name: 0, type: 0, offset: 0, size: 0 },
    { name: 1, type: 1, offset: textOff, size: textSize },
    { name: 7, type: 1, offset: dataOff, size: dataSize },
  ];
  if (notes.length > 0) sections.push({ name: 13, type: 7, offset: notesOff, size: notes.length });
  if (guest) sections.push({ name: 20, type: 1, offset: guestOff, size: guest.length });
  sections.push({ name: 32, type: 3, offset: shstrOff, size: shstr.length });
  const total = shOff + sections.length * 64;
  const b = Buffer.alloc(total);
  // Elf64_Ehdr
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(options.machine ?? 62, 18);
  b.writeUInt32LE(1, 20);
  const vbase = LINUX_VIRT_BASE;
  b.writeBigUInt64LE(vbase + LINUX_PSTART + 0x100n, 24);
  b.writeBigUInt64LE(64n, 32); // e_phoff
  b.writeBigUInt64LE(BigInt(shOff), 40);
  b.writeUInt16LE(64, 52);
  b.writeUInt16LE(56, 54);
  b.writeUInt16LE(phnum, 56);
  b.writeUInt16LE(64, 58);
  b.writeUInt16LE(sections.length, 60);
  b.writeUInt16LE(sections.length - 1, 62);
  const phdr = (i: number, type: number, flags: number, off: number, paddr: bigint, filesz: number, memsz: number) => {
    const o = 64 + i * 56;
    b.writeUInt32LE(type, o);
    b.writeUInt32LE(flags, o + 4);
    b.writeBigUInt64LE(BigInt(off), o + 8);
    b.writeBigUInt64LE(paddr === 0n ? 0n : vbase + paddr, o + 16);
    b.writeBigUInt64LE(paddr, o + 24);
    b.writeBigUInt64LE(BigInt(filesz), o + 32);
    b.writeBigUInt64LE(BigInt(memsz), o + 40);
    b.writeBigUInt64LE(0x1000n, o + 48);
  };
  phdr(0, 1, 5, textOff, LINUX_PSTART, textSize, textSize);
  phdr(1, 1, 6, dataOff, LINUX_PSTART + BigInt(textSize), dataSize, dataSize + bssSize);
  if (withNotes) phdr(2, 4, 4, notesOff, 0n, notes.length, notes.length);
  b.set(pattern(textSize, 1), textOff);
  b.set(pattern(dataSize, 2), dataOff);
  b.set(notes, notesOff);
  if (guest) b.set(guest, guestOff);
  b.set(shstr, shstrOff);
  sections.forEach((s, i) => {
    const o = shOff + i * 64;
    b.writeUInt32LE(s.name, o);
    b.writeUInt32LE(s.type, o + 4);
    b.writeBigUInt64LE(BigInt(s.offset), o + 24);
    b.writeBigUInt64LE(BigInt(s.size), o + 32);
  });
  return b;
}

/**
 * Wraps a (compressed) payload in a minimal bzImage: setup_sects = 1, "HdrS", protocol 2.15,
 * payload_offset/length pointing at the payload placed after the 1 KiB setup area + 32 bytes.
 */
export function syntheticBzImage(payload: Uint8Array, protocol = 0x020f): Uint8Array {
  const setupSects = 1;
  const payloadOffset = 32;
  const start = (setupSects + 1) * 512 + payloadOffset;
  const b = Buffer.alloc(start + payload.length);
  b[0x1f1] = setupSects;
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(protocol, 0x206);
  b.writeUInt32LE(payloadOffset, 0x248);
  b.writeUInt32LE(payload.length, 0x24c);
  b.set(payload, start);
  return b;
}

/** Appends the kernel's `*_with_size` trailer (LE32 uncompressed size). */
export function withSizeTrailer(compressed: Uint8Array, uncompressedSize: number): Uint8Array {
  const t = Buffer.alloc(4);
  t.writeUInt32LE(uncompressedSize >>> 0, 0);
  return Buffer.concat([compressed, t]);
}
