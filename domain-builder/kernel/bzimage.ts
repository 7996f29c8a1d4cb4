// The x86 boot protocol's setup header: find a bzImage's compressed payload (Documentation/arch/x86/boot.rst).
//
// Offsets mirror `struct setup_header` as xg_dom_bzimageloader.c and tools/xcutils/readnotes.c
// declare it (packed, starting at file offset 0x1f1): setup_sects@0x1f1 (u8), header@0x202 ("HdrS"),
// version@0x206 (u16), payload_offset@0x248 (u32), payload_length@0x24c (u32).
import { DomainBuilderError } from '../errors.js';

/** Offsets into the file (not into setup_header). */
export const SETUP_HEADER = {
  SETUP_SECTS: 0x1f1,
  HEADER: 0x202,
  VERSION: 0x206,
  PAYLOAD_OFFSET: 0x248,
  PAYLOAD_LENGTH: 0x24c,
  /** First byte past payload_length: a file shorter than this cannot hold the fields Xen reads. */
  END: 0x250,
} as const;

/** Boot protocol 2.08 introduced payload_offset/payload_length. */
export const MIN_BOOT_PROTOCOL = 0x0208;

/** True if the file carries the "HdrS" setup-header magic at 0x202. */
export function isBzImage(bytes: Uint8Array): boolean {
  const o = SETUP_HEADER.HEADER;
  return bytes.length >= o + 4 && bytes[o] === 0x48 && bytes[o + 1] === 0x64 && bytes[o + 2] === 0x72 && bytes[o + 3] === 0x53;
}

/** Where a bzImage's payload lies, plus the boot protocol version. */
export interface BzImagePayload {
  readonly protocol: number;
  readonly offset: number;
  readonly length: number;
}

/** Reads the setup header and bounds-checks the payload against the file (as libxenguest does). */
export function locatePayload(bytes: Uint8Array, source: string): BzImagePayload {
  if (bytes.length < SETUP_HEADER.END) {
    throw new DomainBuilderError('TXL_KERNEL_TRUNCATED', `${source}: bzImage setup header cut short (${bytes.length} bytes, need ${SETUP_HEADER.END})`, { details: { file: source } });
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const protocol = dv.getUint16(SETUP_HEADER.VERSION, true);
  if (protocol < MIN_BOOT_PROTOCOL) {
    throw new DomainBuilderError('TXL_KERNEL_UNRECOGNISED', `${source}: boot protocol ${(protocol >> 8)}.${(protocol & 0xff).toString().padStart(2, '0')} is too old (need 2.08 or later for payload_offset)`, {
      details: { file: source, protocol },
    });
  }
  const offset = (bytes[SETUP_HEADER.SETUP_SECTS]! + 1) * 512 + dv.getUint32(SETUP_HEADER.PAYLOAD_OFFSET, true);
  const length = dv.getUint32(SETUP_HEADER.PAYLOAD_LENGTH, true);
  if (offset >= bytes.length || offset + length > bytes.length) {
    throw new DomainBuilderError('TXL_KERNEL_TRUNCATED', `${source}: bzImage payload (offset ${offset}, length ${length}) runs past the end of the ${bytes.length}-byte file`, {
      details: { file: source, offset, length, size: bytes.length },
    });
  }
  if (length === 0) {
    throw new DomainBuilderError('TXL_KERNEL_MALFORMED', `${source}: bzImage payload_length is 0`, { details: { file: source } });
  }
  return { protocol, offset, length };
}
