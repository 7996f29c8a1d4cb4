// A GUID Partition Table writer and reader for txl's images: a protective MBR, the primary header and
// entry array at LBA 1-33, one Linux filesystem partition from 1 MiB, the backup entries and header at
// the end of the disk. Layout from the UEFI specification 2.10, section 5.3 ("GUID Partition Table
// Disk Layout": GPT header table 5-5, partition entry table 5-6, protective MBR table 5-4).
import { createHash } from 'node:crypto';
import { FIRST_PARTITION_LBA, SECTOR } from './mbr.js';

/** "EFI PART", the header signature. */
const SIGNATURE = Buffer.from('EFI PART', 'latin1');
/** Header revision 1.0. */
const REVISION = 0x0001_0000;
/** Size of the header proper (the rest of its sector is zero). */
const HEADER_BYTES = 92;
/** Entries in the array and bytes per entry: 128 x 128 = 16 KiB = 32 sectors, the minimum the spec allows. */
export const GPT_ENTRIES = 128;
export const GPT_ENTRY_BYTES = 128;
/** Sectors of the entry array. */
export const GPT_ARRAY_SECTORS = (GPT_ENTRIES * GPT_ENTRY_BYTES) / SECTOR;
/** Partition type GUID "Linux filesystem data" (what sgdisk calls 8300, sfdisk "linux"). */
export const GPT_TYPE_LINUX_FS = '0fc63daf-8483-4772-8e79-3d69d8477de4';
/** MBR partition type of the protective entry that covers a GPT disk. */
export const MBR_TYPE_GPT_PROTECTIVE = 0xee;

/** One used entry of a GPT. LBAs are inclusive, as in the table. */
export interface GptPartition {
  readonly index: number; // 1-based entry number (the N in xvdaN)
  readonly typeGuid: string;
  readonly guid: string;
  readonly firstLba: number;
  readonly lastLba: number;
  readonly attributes: bigint;
  readonly name: string;
}

/** A parsed GPT (from the primary header). */
export interface Gpt {
  readonly diskGuid: string;
  readonly firstUsableLba: number;
  readonly lastUsableLba: number;
  /** Where the header says the backup header is (the last sector of the disk it was written for). */
  readonly alternateLba: number;
  readonly partitions: readonly GptPartition[];
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb8_8320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, reflected, the one the GPT uses). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffff_ffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffff_ffff) >>> 0;
}

/** A GUID in the on-disk mixed-endian form: the first three fields little-endian, the last 8 bytes as written. */
export function encodeGuid(guid: string): Buffer {
  const hex = guid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new RangeError(`not a GUID: ${guid}`);
  const b = Buffer.from(hex, 'hex');
  return Buffer.concat([Buffer.from(b.subarray(0, 4)).reverse(), Buffer.from(b.subarray(4, 6)).reverse(), Buffer.from(b.subarray(6, 8)).reverse(), b.subarray(8)]);
}

/** Reads a mixed-endian GUID back into its text form (lower case). */
export function decodeGuid(b: Uint8Array): string {
  const x = Buffer.from(b.buffer, b.byteOffset, 16);
  const h = Buffer.concat([Buffer.from(x.subarray(0, 4)).reverse(), Buffer.from(x.subarray(4, 6)).reverse(), Buffer.from(x.subarray(6, 8)).reverse(), x.subarray(8)]).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A version-4-shaped GUID derived from `seed` and `purpose` (same inputs, same GUID: reproducible tables). */
export function derivedGuid(seed: string, purpose: string): string {
  const h = createHash('sha256').update(`${purpose}\0${seed}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Where the usable area and txl's one partition lie on a disk of `totalSectors`. */
export function gptLayout(totalSectors: number): { firstUsableLba: number; lastUsableLba: number; firstLba: number; lastLba: number } {
  const firstUsableLba = 2 + GPT_ARRAY_SECTORS;
  const lastUsableLba = totalSectors - 2 - GPT_ARRAY_SECTORS;
  // The partition ends on a 1 MiB boundary (like its start), so its size is a whole number of MiB.
  const lastLba = Math.floor((lastUsableLba + 1) / FIRST_PARTITION_LBA) * FIRST_PARTITION_LBA - 1;
  if (lastLba < FIRST_PARTITION_LBA) throw new RangeError(`a GPT disk needs at least 2 MiB plus the backup table (got ${totalSectors * SECTOR} bytes)`);
  return { firstUsableLba, lastUsableLba, firstLba: FIRST_PARTITION_LBA, lastLba };
}

/** The protective MBR of a GPT disk: one 0xEE entry from LBA 1 over the whole disk (capped at 2^32-1 sectors). */
export function protectiveMbr(totalSectors: number): Buffer {
  const mbr = Buffer.alloc(SECTOR);
  const at = 446;
  mbr[at] = 0x00;
  mbr.set([0x00, 0x02, 0x00], at + 1); // CHS of LBA 1
  mbr[at + 4] = MBR_TYPE_GPT_PROTECTIVE;
  mbr.set([0xff, 0xff, 0xff], at + 5); // CHS end: "beyond CHS", as the spec asks
  mbr.writeUInt32LE(1, at + 8);
  mbr.writeUInt32LE(Math.min(totalSectors - 1, 0xffff_ffff), at + 12);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  return mbr;
}

function encodeEntries(partitions: readonly GptPartition[]): Buffer {
  const array = Buffer.alloc(GPT_ENTRIES * GPT_ENTRY_BYTES);
  for (const p of partitions) {
    if (p.index < 1 || p.index > GPT_ENTRIES) throw new RangeError(`partition index ${p.index} out of 1..${GPT_ENTRIES}`);
    const at = (p.index - 1) * GPT_ENTRY_BYTES;
    array.set(encodeGuid(p.typeGuid), at);
    array.set(encodeGuid(p.guid), at + 16);
    array.writeBigUInt64LE(BigInt(p.firstLba), at + 32);
    array.writeBigUInt64LE(BigInt(p.lastLba), at + 40);
    array.writeBigUInt64LE(p.attributes, at + 48);
    const name = Buffer.from(p.name.slice(0, 36), 'utf16le');
    array.set(name, at + 56);
  }
  return array;
}

function encodeHeader(gpt: Gpt, myLba: number, alternateLba: number, entriesLba: number, entriesCrc: number): Buffer {
  const h = Buffer.alloc(SECTOR);
  h.set(SIGNATURE, 0);
  h.writeUInt32LE(REVISION, 8);
  h.writeUInt32LE(HEADER_BYTES, 12);
  h.writeBigUInt64LE(BigInt(myLba), 24);
  h.writeBigUInt64LE(BigInt(alternateLba), 32);
  h.writeBigUInt64LE(BigInt(gpt.firstUsableLba), 40);
  h.writeBigUInt64LE(BigInt(gpt.lastUsableLba), 48);
  h.set(encodeGuid(gpt.diskGuid), 56);
  h.writeBigUInt64LE(BigInt(entriesLba), 72);
  h.writeUInt32LE(GPT_ENTRIES, 80);
  h.writeUInt32LE(GPT_ENTRY_BYTES, 84);
  h.writeUInt32LE(entriesCrc, 88);
  h.writeUInt32LE(crc32(h.subarray(0, HEADER_BYTES)), 16); // computed with its own field zero
  return h;
}

/** The sectors to write for `gpt` on a disk of `totalSectors`: [byte offset, bytes] pairs (head and tail). */
export function encodeGpt(gpt: Gpt, totalSectors: number): { offset: number; bytes: Buffer }[] {
  const entries = encodeEntries(gpt.partitions);
  const entriesCrc = crc32(entries);
  const last = totalSectors - 1;
  const backupEntriesLba = last - GPT_ARRAY_SECTORS;
  const head = Buffer.concat([protectiveMbr(totalSectors), encodeHeader(gpt, 1, last, 2, entriesCrc), entries]);
  const tail = Buffer.concat([entries, encodeHeader(gpt, last, 1, backupEntriesLba, entriesCrc)]);
  return [
    { offset: 0, bytes: head },
    { offset: backupEntriesLba * SECTOR, bytes: tail },
  ];
}

/** The GPT txl writes: one Linux filesystem partition from 1 MiB to the last whole MiB before the backup table. */
export function singlePartitionGpt(totalSectors: number, seed: string, name = 'root'): Gpt {
  const l = gptLayout(totalSectors);
  return {
    diskGuid: derivedGuid(seed, 'gpt-disk'),
    firstUsableLba: l.firstUsableLba,
    lastUsableLba: l.lastUsableLba,
    alternateLba: totalSectors - 1,
    partitions: [{ index: 1, typeGuid: GPT_TYPE_LINUX_FS, guid: derivedGuid(seed, 'gpt-partition-1'), firstLba: l.firstLba, lastLba: l.lastLba, attributes: 0n, name }],
  };
}

/** Why a GPT could not be read. */
export class GptFormatError extends Error {}

/**
 * Parses the primary GPT from the first 34 sectors of a disk (protective MBR, header, entry array).
 * Returns undefined when LBA 1 has no "EFI PART" signature; throws GptFormatError when it has one but
 * the header or the entry array fails its CRC or is out of shape.
 */
export function parseGpt(head: Uint8Array): Gpt | undefined {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length < 2 * SECTOR || !b.subarray(SECTOR, SECTOR + 8).equals(SIGNATURE)) return undefined;
  const h = Buffer.from(b.subarray(SECTOR, 2 * SECTOR));
  const size = h.readUInt32LE(12);
  if (size < HEADER_BYTES || size > SECTOR) throw new GptFormatError(`GPT header size ${size} is out of range`);
  const crc = h.readUInt32LE(16);
  h.writeUInt32LE(0, 16);
  if (crc32(h.subarray(0, size)) !== crc) throw new GptFormatError('GPT header CRC does not match (corrupt primary table)');
  const entriesLba = Number(h.readBigUInt64LE(72));
  const count = h.readUInt32LE(80);
  const entryBytes = h.readUInt32LE(84);
  if (entryBytes < 128 || entryBytes % 8 !== 0 || count > 1024) throw new GptFormatError(`GPT entry array of ${count} x ${entryBytes} bytes is not supported`);
  const arrayStart = entriesLba * SECTOR;
  const array = b.subarray(arrayStart, arrayStart + count * entryBytes);
  if (array.length < count * entryBytes) throw new GptFormatError(`GPT entry array at LBA ${entriesLba} lies beyond the ${b.length} bytes read`);
  if (crc32(array) !== h.readUInt32LE(88)) throw new GptFormatError('GPT partition entry array CRC does not match');
  const partitions: GptPartition[] = [];
  for (let i = 0; i < count; i++) {
    const e = array.subarray(i * entryBytes, (i + 1) * entryBytes);
    if (e.subarray(0, 16).every((x) => x === 0)) continue; // unused entry
    const nameBytes = e.subarray(56, 128);
    let end = 0;
    while (end + 1 < nameBytes.length && (nameBytes[end] !== 0 || nameBytes[end + 1] !== 0)) end += 2;
    partitions.push({
      index: i + 1,
      typeGuid: decodeGuid(e.subarray(0, 16)),
      guid: decodeGuid(e.subarray(16, 32)),
      firstLba: Number(e.readBigUInt64LE(32)),
      lastLba: Number(e.readBigUInt64LE(40)),
      attributes: e.readBigUInt64LE(48),
      name: nameBytes.subarray(0, end).toString('utf16le'),
    });
  }
  return {
    diskGuid: decodeGuid(h.subarray(56, 72)),
    firstUsableLba: Number(h.readBigUInt64LE(40)),
    lastUsableLba: Number(h.readBigUInt64LE(48)),
    alternateLba: Number(h.readBigUInt64LE(32)),
    partitions,
  };
}

/** Bytes parseGpt needs from the start of the disk (MBR, header, a 128-entry array). */
export const GPT_HEAD_BYTES = (2 + GPT_ARRAY_SECTORS) * SECTOR;
