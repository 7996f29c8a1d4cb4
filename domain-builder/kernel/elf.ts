// ELF header, program header, section header and note parsing, bounds-checked (ELF32 read only to refuse it).
//
// Layouts mirror the System V gABI / xen/include/xen/elfstructs.h (Elf64_Ehdr 64 B, Elf64_Phdr 56 B,
// Elf64_Shdr 64 B, Elf32_Ehdr 52 B). Every offset read from the file is checked against its length,
// so a hostile image raises DomainBuilderError, never a RangeError.
import { DomainBuilderError } from '../errors.js';

/** e_machine values the builder names in its messages (elf.h). */
export const EM = { I386: 3, ARM: 40, X86_64: 62, AARCH64: 183, RISCV: 243 } as const;
/** p_type values (elf.h). */
export const PT_LOAD = 1;
export const PT_NOTE = 4;
/** sh_type SHT_NOTE (elf.h). */
export const SHT_NOTE = 7;
/** p_flags bits (elf.h): PF_X, PF_W, PF_R. */
export const PF_RWX = 7;

/** Sizes of the ELF64 structures (elf.h, gABI). */
export const ELF64_EHDR_SIZE = 64;
export const ELF64_PHDR_SIZE = 56;
export const ELF64_SHDR_SIZE = 64;

/** One program header (Elf64_Phdr). */
export interface ElfProgramHeader {
  readonly index: number;
  readonly type: number;
  readonly flags: number;
  readonly offset: bigint;
  readonly vaddr: bigint;
  readonly paddr: bigint;
  readonly filesz: bigint;
  readonly memsz: bigint;
}

/** One section header (Elf64_Shdr) with its resolved name. */
export interface ElfSectionHeader {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly offset: bigint;
  readonly size: bigint;
}

/** One ELF note: `{namesz, descsz, type}` then name and desc, each padded to 4 bytes. */
export interface ElfNote {
  /** Name without its terminating NUL (undefined if the name is not NUL-terminated in namesz). */
  readonly name: string | undefined;
  readonly type: number;
  /** The descriptor bytes (a view into the image). */
  readonly desc: Uint8Array;
  /**
   * From the descriptor to the end of the note area. libelf reads string notes as C strings
   * (elf_strval), so a desc written with `.ascii` (no NUL, e.g. Linux's FEATURES) ends at the
   * padding NUL that follows it.
   */
  readonly descToEnd: Uint8Array;
}

/** A parsed ELF64 little-endian image. */
export interface ElfImage {
  readonly bytes: Uint8Array;
  readonly machine: number;
  readonly entry: bigint;
  readonly programHeaders: readonly ElfProgramHeader[];
  readonly sectionHeaders: readonly ElfSectionHeader[];
}

/** The gABI magic "\x7fELF". */
export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

/** Human name of an e_machine value, for messages. */
export function machineName(machine: number): string {
  switch (machine) {
    case EM.I386: return 'i386';
    case EM.X86_64: return 'x86_64';
    case EM.ARM: return 'arm';
    case EM.AARCH64: return 'arm64';
    case EM.RISCV: return 'riscv';
    default: return `machine ${machine}`;
  }
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Converts a 64-bit file offset/size to a number, or fails with a truncation error naming `what`. */
function fileRange(bytes: Uint8Array, offset: bigint, size: bigint, what: string, source: string): [number, number] {
  const end = offset + size;
  if (offset < 0n || size < 0n || end > BigInt(bytes.length)) {
    throw new DomainBuilderError('TXL_KERNEL_TRUNCATED', `${source}: ${what} at offset ${offset} size ${size} lies outside the ${bytes.length}-byte image`, {
      details: { file: source, offset: offset.toString(), size: size.toString(), imageSize: bytes.length },
    });
  }
  return [Number(offset), Number(end)];
}

/**
 * Parses an ELF64 little-endian image's headers. ELF32 and big-endian images are refused
 * (typed errors), as is any header that points outside the file. `source` names the file in messages.
 */
export function parseElf(bytes: Uint8Array, source: string): ElfImage {
  if (!isElf(bytes)) {
    throw new DomainBuilderError('TXL_KERNEL_UNRECOGNISED', `${source}: not an ELF image (no \\x7fELF magic)`, { details: { file: source } });
  }
  if (bytes.length < 20) {
    throw new DomainBuilderError('TXL_KERNEL_TRUNCATED', `${source}: ELF header cut short (${bytes.length} bytes)`, { details: { file: source } });
  }
  const dv = view(bytes);
  const elfClass = bytes[4];
  const data = bytes[5];
  if (data !== 1) {
    throw new DomainBuilderError('TXL_KERNEL_WRONG_ARCH', `${source}: big-endian ELF (EI_DATA=${String(data)}); only little-endian x86_64 kernels can run as PV guests`, { details: { file: source } });
  }
  const machine = dv.getUint16(18, true);
  if (elfClass === 1) {
    const arch = machineName(machine);
    const message = machine === EM.I386
      ? `${source}: 32-bit PV is not supported (this is an i386 ELF kernel); use a 64-bit (x86_64) kernel`
      : `${source}: 32-bit ELF image for ${arch}; a PV guest kernel must be x86_64`;
    throw new DomainBuilderError('TXL_KERNEL_WRONG_ARCH', message, { details: { file: source, machine: arch } });
  }
  if (elfClass !== 2) {
    throw new DomainBuilderError('TXL_KERNEL_MALFORMED', `${source}: bad ELF class ${String(elfClass)} (EI_CLASS must be 1 or 2)`, { details: { file: source } });
  }
  if (bytes.length < ELF64_EHDR_SIZE) {
    throw new DomainBuilderError('TXL_KERNEL_TRUNCATED', `${source}: ELF64 header cut short (${bytes.length} of 64 bytes)`, { details: { file: source } });
  }
  // Elf64_Ehdr: e_entry@24 e_phoff@32 e_shoff@40 e_phentsize@54 e_phnum@56 e_shentsize@58 e_shnum@60 e_shstrndx@62
  const entry = dv.getBigUint64(24, true);
  const phoff = dv.getBigUint64(32, true);
  const shoff = dv.getBigUint64(40, true);
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  const shentsize = dv.getUint16(58, true);
  const shnum = dv.getUint16(60, true);
  const shstrndx = dv.getUint16(62, true);

  const programHeaders: ElfProgramHeader[] = [];
  if (phnum > 0) {
    if (phentsize < ELF64_PHDR_SIZE) {
      throw new DomainBuilderError('TXL_KERNEL_MALFORMED', `${source}: e_phentsize ${phentsize} is smaller than Elf64_Phdr (56)`, { details: { file: source } });
    }
    const [start] = fileRange(bytes, phoff, BigInt(phentsize) * BigInt(phnum), 'program header table', source);
    for (let i = 0; i < phnum; i++) {
      const o = start + i * phentsize;
      // Elf64_Phdr: p_type@0 p_flags@4 p_offset@8 p_vaddr@16 p_paddr@24 p_filesz@32 p_memsz@40 p_align@48
      programHeaders.push({
        index: i,
        type: dv.getUint32(o, true),
        flags: dv.getUint32(o + 4, true),
        offset: dv.getBigUint64(o + 8, true),
        vaddr: dv.getBigUint64(o + 16, true),
        paddr: dv.getBigUint64(o + 24, true),
        filesz: dv.getBigUint64(o + 32, true),
        memsz: dv.getBigUint64(o + 40, true),
      });
    }
  }

  const sectionHeaders: ElfSectionHeader[] = [];
  if (shnum > 0 && shoff !== 0n) {
    if (shentsize < ELF64_SHDR_SIZE) {
      throw new DomainBuilderError('TXL_KERNEL_MALFORMED', `${source}: e_shentsize ${shentsize} is smaller than Elf64_Shdr (64)`, { details: { file: source } });
    }
    const [start] = fileRange(bytes, shoff, BigInt(shentsize) * BigInt(shnum), 'section header table', source);
    const raw: { name: number; type: number; offset: bigint; size: bigint }[] = [];
    for (let i = 0; i < shnum; i++) {
      const o = start + i * shentsize;
      // Elf64_Shdr: sh_name@0 sh_type@4 sh_flags@8 sh_addr@16 sh_offset@24 sh_size@32
      raw.push({ name: dv.getUint32(o, true), type: dv.getUint32(o + 4, true), offset: dv.getBigUint64(o + 24, true), size: dv.getBigUint64(o + 32, true) });
    }
    const strtab = shstrndx < raw.length ? raw[shstrndx] : undefined;
    let names: Uint8Array | undefined;
    if (strtab && strtab.type !== 8 /* SHT_NOBITS */) {
      const end = strtab.offset + strtab.size;
      if (strtab.offset <= BigInt(bytes.length) && end <= BigInt(bytes.length)) names = bytes.subarray(Number(strtab.offset), Number(end));
    }
    raw.forEach((s, index) => {
      sectionHeaders.push({ index, name: names ? cString(names, s.name) ?? '' : '', type: s.type, offset: s.offset, size: s.size });
    });
  }
  return { bytes, machine, entry, programHeaders, sectionHeaders };
}

/** The NUL-terminated string at `offset` in `bytes` (latin1), or undefined if it runs off the end. */
export function cString(bytes: Uint8Array, offset: number): string | undefined {
  if (offset < 0 || offset >= bytes.length) return undefined;
  const end = bytes.indexOf(0, offset);
  if (end < 0) return undefined;
  return Buffer.from(bytes.buffer, bytes.byteOffset + offset, end - offset).toString('latin1');
}

/** The bytes of a segment's file image, bounds-checked. */
export function segmentBytes(elf: ElfImage, ph: ElfProgramHeader, source: string): Uint8Array {
  const [start, end] = fileRange(elf.bytes, ph.offset, ph.filesz, `segment ${ph.index}`, source);
  return elf.bytes.subarray(start, end);
}

/** The bytes of a section, bounds-checked. */
export function sectionBytes(elf: ElfImage, sh: ElfSectionHeader, source: string): Uint8Array {
  const [start, end] = fileRange(elf.bytes, sh.offset, sh.size, `section ${sh.name || sh.index}`, source);
  return elf.bytes.subarray(start, end);
}

/**
 * Walks the notes in `area` (a PT_NOTE segment or SHT_NOTE section). Like libelf, it stops at
 * the first note whose header or body would cross the end of the area.
 */
export function parseNotes(area: Uint8Array, maxNotes = 65536): ElfNote[] {
  const notes: ElfNote[] = [];
  const dv = view(area);
  let o = 0;
  while (o + 12 <= area.length && notes.length < maxNotes) {
    const namesz = dv.getUint32(o, true);
    const descsz = dv.getUint32(o + 4, true);
    const type = dv.getUint32(o + 8, true);
    const nameStart = o + 12;
    const paddedName = Math.ceil(namesz / 4) * 4;
    const descOffset = nameStart + paddedName;
    const next = descOffset + Math.ceil(descsz / 4) * 4;
    if (descOffset + descsz > area.length) break;
    const nameBytes = area.subarray(nameStart, nameStart + namesz);
    const nul = nameBytes.indexOf(0);
    const name = nul < 0 ? undefined : Buffer.from(nameBytes.buffer, nameBytes.byteOffset, nul).toString('latin1');
    notes.push({ name, type, desc: area.subarray(descOffset, descOffset + descsz), descToEnd: area.subarray(descOffset) });
    o = next;
  }
  return notes;
}
