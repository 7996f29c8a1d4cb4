// A minimal MBR (DOS) partition table writer and reader: one Linux partition at 1 MiB, enough for
// pygrub and for guests that want /dev/xvda1. Layout from the classic IBM PC MBR: boot code 0-439,
// disk signature 440-443, four 16-byte entries at 446, 0x55 0xAA at 510.

/** Sector size the table is written for. */
export const SECTOR = 512;
/** First partition's start: 1 MiB, the alignment fdisk/sfdisk use. */
export const FIRST_PARTITION_LBA = 2048;
/** Partition type byte of a Linux filesystem. */
export const MBR_TYPE_LINUX = 0x83;

/** One primary partition entry. */
export interface MbrPartition {
  readonly index: number; // 1..4
  readonly bootable: boolean;
  readonly type: number;
  readonly startLba: number;
  readonly sectors: number;
}

/** CHS triple for an LBA with the 255-head/63-sector geometry, clamped to 1023/254/63 like fdisk. */
function chs(lba: number): [number, number, number] {
  const cylinder = Math.floor(lba / (255 * 63));
  if (cylinder > 1023) return [0xfe, 0xff, 0xff];
  const head = Math.floor(lba / 63) % 255;
  const sector = (lba % 63) + 1;
  return [head, ((cylinder >> 2) & 0xc0) | sector, cylinder & 0xff];
}

/**
 * The 512-byte MBR of a disk of `diskBytes` with one bootable Linux partition from 1 MiB to the end.
 * `signature` is the 32-bit disk identifier (pass a fixed one for reproducible images).
 */
export function encodeMbr(diskBytes: number, signature: number): Buffer {
  const totalSectors = Math.floor(diskBytes / SECTOR);
  if (totalSectors <= FIRST_PARTITION_LBA) throw new RangeError(`a partitioned disk needs more than 1 MiB (got ${diskBytes} bytes)`);
  const sectors = Math.min(totalSectors - FIRST_PARTITION_LBA, 0xffff_ffff);
  const mbr = Buffer.alloc(SECTOR);
  mbr.writeUInt32LE(signature >>> 0, 440);
  writeEntry(mbr, { index: 1, bootable: true, type: MBR_TYPE_LINUX, startLba: FIRST_PARTITION_LBA, sectors });
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  return mbr;
}

/** Writes one entry into an MBR buffer (used to grow the partition on resize). */
export function writeEntry(mbr: Buffer, p: MbrPartition): void {
  const at = 446 + (p.index - 1) * 16;
  mbr[at] = p.bootable ? 0x80 : 0x00;
  mbr.set(chs(p.startLba), at + 1);
  mbr[at + 4] = p.type;
  mbr.set(chs(p.startLba + p.sectors - 1), at + 5);
  mbr.writeUInt32LE(p.startLba, at + 8);
  mbr.writeUInt32LE(p.sectors, at + 12);
}

/** The used primary partitions of a sector-0 buffer, or undefined when it has no MBR signature. */
export function parseMbr(sector0: Uint8Array): MbrPartition[] | undefined {
  const b = Buffer.from(sector0.buffer, sector0.byteOffset, sector0.byteLength);
  if (b.length < SECTOR || b[510] !== 0x55 || b[511] !== 0xaa) return undefined;
  const parts: MbrPartition[] = [];
  for (let i = 0; i < 4; i++) {
    const at = 446 + i * 16;
    const status = b[at]!;
    const type = b[at + 4]!;
    const sectors = b.readUInt32LE(at + 12);
    // A FAT/ext boot sector also ends in 55 AA: only 0x00/0x80 status bytes make a partition table.
    if (status !== 0 && status !== 0x80) return undefined;
    if (type === 0 || sectors === 0) continue;
    parts.push({ index: i + 1, bootable: status === 0x80, type, startLba: b.readUInt32LE(at + 8), sectors });
  }
  return parts;
}
