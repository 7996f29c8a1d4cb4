// Formats a kernel's Xen notes exactly as Xen's readnotes tool prints them (tools/xcutils/readnotes.c, 4.17).
//
// readnotes walks every PT_NOTE segment with a non-zero p_offset; if the last one held no Xen note,
// it walks the SHT_NOTE sections (saying so on stderr); then prints the __xen_guest string.
// Unlike readnotes, txl also opens bzImages whose payload is not gzip (xz, zstd, ...).
import { PT_NOTE, SHT_NOTE, parseNotes, segmentBytes, sectionBytes, type ElfImage, type ElfNote } from './elf.js';
import { XEN_ELFNOTE, noteNumeric, noteString } from './xen-notes.js';

/** readnotes' output: the stdout lines and the stderr lines. */
export interface ReadnotesOutput {
  readonly stdout: string;
  readonly stderr: string;
}

const STRING_NOTES: Readonly<Record<number, string>> = {
  [XEN_ELFNOTE.INFO]: 'INFO',
  [XEN_ELFNOTE.XEN_VERSION]: 'XEN_VERSION',
  [XEN_ELFNOTE.GUEST_OS]: 'GUEST_OS',
  [XEN_ELFNOTE.GUEST_VERSION]: 'GUEST_VERSION',
  [XEN_ELFNOTE.LOADER]: 'LOADER',
  [XEN_ELFNOTE.PAE_MODE]: 'PAE_MODE',
  [XEN_ELFNOTE.FEATURES]: 'FEATURES',
};

const NUMERIC_NOTES: Readonly<Record<number, string>> = {
  [XEN_ELFNOTE.ENTRY]: 'ENTRY',
  [XEN_ELFNOTE.HYPERCALL_PAGE]: 'HYPERCALL_PAGE',
  [XEN_ELFNOTE.VIRT_BASE]: 'VIRT_BASE',
  [XEN_ELFNOTE.PADDR_OFFSET]: 'PADDR_OFFSET',
  [XEN_ELFNOTE.HV_START_LOW]: 'HV_START_LOW',
  [XEN_ELFNOTE.SUSPEND_CANCEL]: 'SUSPEND_CANCEL',
  [XEN_ELFNOTE.PHYS32_ENTRY]: 'PHYS32_ENTRY',
};

/** printf("%#*llx", width, value): "0x"-prefixed hex except for 0, right-aligned in `width`. */
export function cAltHex(value: bigint, width: number): string {
  const body = value === 0n ? '0' : `0x${value.toString(16)}`;
  return body.padStart(width, ' ');
}

function unsignedLe(bytes: Uint8Array, offset: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[offset + i] ?? 0);
  return v;
}

/** One readnotes line (or none, for an L1_MFN_VALID note of an odd size). */
export function formatNote(note: ElfNote): string | undefined {
  const stringName = STRING_NOTES[note.type];
  if (stringName !== undefined) return `${stringName}: ${noteString(note) ?? '(invalid)'}`;
  const numericName = NUMERIC_NOTES[note.type];
  if (numericName !== undefined) {
    const descsz = note.desc.length;
    return `${numericName}: ${cAltHex(noteNumeric(note.desc), 2 + 2 * descsz)} (${descsz} bytes)`;
  }
  if (note.type === XEN_ELFNOTE.L1_MFN_VALID) {
    const half = Math.floor(note.desc.length / 2);
    if (half === 8) return `L1_MFN_VALID: mask=${cAltHex(unsignedLe(note.desc, 0, 8), 0)} value=${cAltHex(unsignedLe(note.desc, 8, 8), 0)}`;
    if (half === 4) return `L1_MFN_VALID: mask=${cAltHex(unsignedLe(note.desc, 0, 4), 0)} value=${cAltHex(unsignedLe(note.desc, 4, 4), 0)}`;
    return undefined;
  }
  return `unknown note type ${cAltHex(BigInt(note.type >>> 0), 0)}`;
}

function printNotes(area: Uint8Array, lines: string[]): number {
  let found = 0;
  for (const note of parseNotes(area)) {
    if (note.name !== 'Xen') continue;
    found++;
    const line = formatNote(note);
    if (line !== undefined) lines.push(line);
  }
  return found;
}

/** The output readnotes would print for this ELF image. */
export function readnotes(elf: ElfImage, source: string): ReadnotesOutput {
  const out: string[] = [];
  const err: string[] = [];
  let notesFound = 0;
  for (const ph of elf.programHeaders) {
    if (ph.type !== PT_NOTE || ph.offset === 0n) continue;
    let area: Uint8Array;
    try { area = segmentBytes(elf, ph, source); } catch { continue; }
    notesFound = printNotes(area, out);
  }
  if (notesFound === 0) {
    for (const sh of elf.sectionHeaders) {
      if (sh.type !== SHT_NOTE) continue;
      let area: Uint8Array;
      try { area = sectionBytes(elf, sh, source); } catch { continue; }
      notesFound = printNotes(area, out);
      if (notesFound) err.push('using notes from SHT_NOTE section');
    }
  }
  const guest = elf.sectionHeaders.find((s) => s.name === '__xen_guest');
  if (guest) {
    let text = '(invalid)';
    try {
      const bytes = sectionBytes(elf, guest, source);
      const nul = bytes.indexOf(0);
      if (nul >= 0) text = Buffer.from(bytes.buffer, bytes.byteOffset, nul).toString('latin1');
    } catch { /* readnotes prints (invalid) for an unreadable string */ }
    out.push(`__xen_guest: ${text}`);
  }
  const join = (lines: string[]) => (lines.length ? `${lines.join('\n')}\n` : '');
  return { stdout: join(out), stderr: join(err) };
}
