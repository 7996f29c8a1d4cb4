// Xen ELF notes (PT_NOTE, then SHT_NOTE) and the legacy __xen_guest string, parsed into one typed record.
//
// Note types mirror xen/include/public/elfnote.h (XEN_ELFNOTE_*); the selection order and the
// per-note semantics follow xen/common/libelf/libelf-dominfo.c (elf_xen_parse, elf_xen_parse_note,
// elf_xen_parse_guest_info, elf_xen_parse_features) at stable-4.17.
import { PT_NOTE, SHT_NOTE, parseNotes, segmentBytes, sectionBytes, type ElfImage, type ElfNote } from './elf.js';

/** XEN_ELFNOTE_* type numbers (xen/include/public/elfnote.h). */
export const XEN_ELFNOTE = {
  INFO: 0, ENTRY: 1, HYPERCALL_PAGE: 2, VIRT_BASE: 3, PADDR_OFFSET: 4, XEN_VERSION: 5, GUEST_OS: 6,
  GUEST_VERSION: 7, LOADER: 8, PAE_MODE: 9, FEATURES: 10, BSD_SYMTAB: 11, HV_START_LOW: 12,
  L1_MFN_VALID: 13, SUSPEND_CANCEL: 14, INIT_P2M: 15, MOD_START_PFN: 16, SUPPORTED_FEATURES: 17,
  PHYS32_ENTRY: 18,
} as const;

/** XENFEAT_* bit numbers that may appear in the FEATURES note (xen/include/public/features.h). */
export const XEN_FEATURES: Readonly<Record<string, number>> = {
  writable_page_tables: 0,
  writable_descriptor_tables: 1,
  auto_translated_physmap: 2,
  supervisor_mode_kernel: 3,
  pae_pgdir_above_4gb: 4,
  hvm_callback_vector: 8,
  dom0: 11,
};

/** Where the Xen notes came from. */
export type XenNotesSource = 'PT_NOTE' | 'SHT_NOTE' | '__xen_guest' | 'none';

/** Everything the Xen notes (or __xen_guest) of a kernel say, typed. Absent notes are undefined. */
export interface XenNotes {
  readonly source: XenNotesSource;
  /** The "Xen"-named notes in file order (from the chosen source). */
  readonly notes: readonly ElfNote[];
  /** The raw __xen_guest string, if that section exists (whatever the source). */
  readonly guestInfo: string | undefined;
  readonly entry: bigint | undefined;
  readonly hypercallPage: bigint | undefined;
  readonly virtBase: bigint | undefined;
  readonly paddrOffset: bigint | undefined;
  readonly hvStartLow: bigint | undefined;
  readonly initP2m: bigint | undefined;
  readonly phys32Entry: bigint | undefined;
  readonly suspendCancel: bigint | undefined;
  /** MOD_START_PFN non-zero: the initrd goes unmapped and mod_start is a pfn. */
  readonly modStartPfn: boolean;
  readonly xenVersion: string | undefined;
  readonly guestOs: string | undefined;
  readonly guestVersion: string | undefined;
  readonly loader: string | undefined;
  readonly paeMode: string | undefined;
  readonly features: string | undefined;
  readonly bsdSymtab: boolean;
  /** XENFEAT bitmap (submap 0) the kernel supports (FEATURES names and SUPPORTED_FEATURES). */
  readonly supportedFeatures: number;
  /** XENFEAT bitmap the kernel requires ("!name" in FEATURES). */
  readonly requiredFeatures: number;
  /** A "!name" the builder does not know (libelf refuses such a kernel). */
  readonly unknownRequiredFeature: string | undefined;
}

/** Unsigned little-endian value of a 1, 2, 4 or 8 byte desc; other sizes read as 0 (libelf elf_note_numeric). */
export function noteNumeric(desc: Uint8Array): bigint {
  switch (desc.length) {
    case 1: return BigInt(desc[0]!);
    case 2: case 4: case 8: {
      let v = 0n;
      for (let i = desc.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(desc[i]!);
      return v;
    }
    default: return 0n;
  }
}

/**
 * The C string starting at a note's desc (libelf elf_strval): it runs to the first NUL even past
 * descsz (Linux emits FEATURES with `.ascii`, ended by the padding). Undefined without a NUL ("(invalid)").
 */
export function noteString(note: { readonly descToEnd: Uint8Array }): string | undefined {
  const b = note.descToEnd;
  const nul = b.indexOf(0);
  if (nul < 0) return undefined;
  return Buffer.from(b.buffer, b.byteOffset, nul).toString('latin1');
}

interface MutableFeatures { supported: number; required: number; unknownRequired: string | undefined }

/** Parses a FEATURES string `a|!b|...` (libelf elf_xen_parse_features; names cut at 63 chars). */
export function parseFeatures(text: string, into: MutableFeatures): void {
  for (const raw of text.split('|')) {
    const feature = raw.slice(0, 63);
    if (feature === '') continue;
    const required = feature.startsWith('!');
    const name = required ? feature.slice(1) : feature;
    const bit = Object.hasOwn(XEN_FEATURES, name) ? XEN_FEATURES[name] : undefined;
    if (bit === undefined) {
      if (required && into.unknownRequired === undefined) into.unknownRequired = name;
      continue;
    }
    into.supported |= 1 << bit;
    if (required) into.required |= 1 << bit;
  }
}

function xenNotesIn(area: Uint8Array): ElfNote[] {
  return parseNotes(area).filter((n) => n.name === 'Xen');
}

/** Reads the __xen_guest section string (NUL-terminated within the section), if the section exists. */
function guestInfoOf(elf: ElfImage, source: string): string | undefined {
  const sh = elf.sectionHeaders.find((s) => s.name === '__xen_guest');
  if (!sh) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = sectionBytes(elf, sh, source);
  } catch {
    return undefined;
  }
  const nul = bytes.indexOf(0);
  return Buffer.from(bytes.buffer, bytes.byteOffset, nul < 0 ? bytes.length : nul).toString('latin1');
}

/** Parses strtoull(value, NULL, 0): 0x hex, leading 0 octal, else decimal; stops at the first bad digit. */
export function strtoull(text: string): bigint {
  const t = text.trim();
  let base = 10;
  let digits = t;
  if (/^0[xX]/.test(t)) { base = 16; digits = t.slice(2); } else if (t.startsWith('0')) base = 8;
  const valid = base === 16 ? /^[0-9a-fA-F]*/ : base === 8 ? /^[0-7]*/ : /^[0-9]*/;
  const m = valid.exec(digits)?.[0] ?? '';
  if (m === '') return 0n;
  const prefix = base === 16 ? '0x' : base === 8 ? '0o' : '';
  return BigInt(prefix + m) & 0xffff_ffff_ffff_ffffn;
}

/** Splits a legacy `KEY=VALUE,KEY=VALUE` guest-info string (libelf limits: name 31, value 127 chars). */
export function parseGuestInfo(text: string): [string, string][] {
  const out: [string, string][] = [];
  for (const item of text.split(',')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    const name = (eq < 0 ? item : item.slice(0, eq)).slice(0, 31);
    const value = eq < 0 ? '' : item.slice(eq + 1).slice(0, 127);
    out.push([name, value]);
  }
  return out;
}

/** Collects the Xen notes of an ELF image in libelf's order: PT_NOTE, else SHT_NOTE, else __xen_guest. */
export function readXenNotes(elf: ElfImage, source: string): XenNotes {
  let chosen: XenNotesSource = 'none';
  let notes: ElfNote[] = [];
  for (const ph of elf.programHeaders) {
    if (ph.type !== PT_NOTE || ph.offset === 0n) continue;
    let area: Uint8Array;
    try { area = segmentBytes(elf, ph, source); } catch { continue; }
    notes.push(...xenNotesIn(area));
  }
  if (notes.length > 0) chosen = 'PT_NOTE';
  else {
    for (const sh of elf.sectionHeaders) {
      if (sh.index === 0 || sh.type !== SHT_NOTE) continue;
      let area: Uint8Array;
      try { area = sectionBytes(elf, sh, source); } catch { continue; }
      notes.push(...xenNotesIn(area));
    }
    if (notes.length > 0) chosen = 'SHT_NOTE';
  }
  const guestInfo = guestInfoOf(elf, source);

  const r = {
    entry: undefined as bigint | undefined, hypercallPage: undefined as bigint | undefined,
    virtBase: undefined as bigint | undefined, paddrOffset: undefined as bigint | undefined,
    hvStartLow: undefined as bigint | undefined, initP2m: undefined as bigint | undefined,
    phys32Entry: undefined as bigint | undefined, suspendCancel: undefined as bigint | undefined,
    modStartPfn: false,
    xenVersion: undefined as string | undefined, guestOs: undefined as string | undefined,
    guestVersion: undefined as string | undefined, loader: undefined as string | undefined,
    paeMode: undefined as string | undefined, features: undefined as string | undefined, bsdSymtab: false,
  };
  const feats: MutableFeatures = { supported: 0, required: 0, unknownRequired: undefined };

  if (chosen !== 'none') {
    for (const n of notes) {
      const num = () => noteNumeric(n.desc);
      const str = () => noteString(n);
      switch (n.type) {
        case XEN_ELFNOTE.ENTRY: r.entry = num(); break;
        case XEN_ELFNOTE.HYPERCALL_PAGE: r.hypercallPage = num(); break;
        case XEN_ELFNOTE.VIRT_BASE: r.virtBase = num(); break;
        case XEN_ELFNOTE.PADDR_OFFSET: r.paddrOffset = num(); break;
        case XEN_ELFNOTE.HV_START_LOW: r.hvStartLow = num(); break;
        case XEN_ELFNOTE.INIT_P2M: r.initP2m = num(); break;
        case XEN_ELFNOTE.PHYS32_ENTRY: r.phys32Entry = num() & 0xffff_ffffn; break;
        case XEN_ELFNOTE.SUSPEND_CANCEL: r.suspendCancel = num(); break;
        case XEN_ELFNOTE.MOD_START_PFN: r.modStartPfn = num() !== 0n; break;
        case XEN_ELFNOTE.XEN_VERSION: r.xenVersion = str() ?? r.xenVersion; break;
        case XEN_ELFNOTE.GUEST_OS: r.guestOs = str() ?? r.guestOs; break;
        case XEN_ELFNOTE.GUEST_VERSION: r.guestVersion = str() ?? r.guestVersion; break;
        case XEN_ELFNOTE.LOADER: r.loader = str() ?? r.loader; break;
        case XEN_ELFNOTE.PAE_MODE: r.paeMode = str() ?? r.paeMode; break;
        case XEN_ELFNOTE.BSD_SYMTAB: if (str() === 'yes') r.bsdSymtab = true; break;
        case XEN_ELFNOTE.FEATURES: {
          const s = str();
          if (s !== undefined) { r.features = s; parseFeatures(s, feats); }
          break;
        }
        case XEN_ELFNOTE.SUPPORTED_FEATURES: {
          // elf_note_numeric_array(unitsz 4, idx 0): submap 0 only (XENFEAT_NR_SUBMAPS = 1).
          if (n.desc.length % 4 === 0 && n.desc.length >= 4) feats.supported |= Number(noteNumeric(n.desc.subarray(0, 4)));
          break;
        }
        default: break;
      }
    }
  } else if (guestInfo !== undefined) {
    chosen = '__xen_guest';
    for (const [name, value] of parseGuestInfo(guestInfo)) {
      switch (name) {
        case 'LOADER': r.loader = value; break;
        case 'GUEST_OS': r.guestOs = value; break;
        case 'GUEST_VER': r.guestVersion = value; break;
        case 'XEN_VER': r.xenVersion = value; break;
        case 'PAE': r.paeMode = value; break;
        case 'BSD_SYMTAB': r.bsdSymtab = true; break;
        case 'VIRT_BASE': r.virtBase = strtoull(value); break;
        case 'VIRT_ENTRY': r.entry = strtoull(value); break;
        case 'ELF_PADDR_OFFSET': r.paddrOffset = strtoull(value); break;
        case 'HYPERCALL_PAGE': r.hypercallPage = (strtoull(value) << 12n) & 0xffff_ffff_ffff_ffffn; break;
        case 'FEATURES': r.features = value; parseFeatures(value, feats); break;
        default: break;
      }
    }
    // libelf: a legacy HYPERCALL_PAGE is a page number relative to VIRT_BASE.
    if (r.hypercallPage !== undefined && r.virtBase !== undefined) r.hypercallPage = (r.hypercallPage + r.virtBase) & 0xffff_ffff_ffff_ffffn;
  }

  return {
    source: chosen,
    notes,
    guestInfo,
    ...r,
    supportedFeatures: feats.supported >>> 0,
    requiredFeatures: feats.required >>> 0,
    unknownRequiredFeature: feats.unknownRequired,
  };
}
