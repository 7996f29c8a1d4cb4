import { describe, expect, it } from 'vitest';
import { encodeMbr, FIRST_PARTITION_LBA, parseMbr } from './mbr.js';

describe('MBR', () => {
  it('writes one Linux partition from 1 MiB to the end and reads it back', () => {
    const size = 4 * 1024 ** 3;
    const mbr = encodeMbr(size, 0x12345678);
    expect(mbr.length).toBe(512);
    expect(mbr.readUInt32LE(440)).toBe(0x12345678);
    expect([mbr[510], mbr[511]]).toEqual([0x55, 0xaa]);
    expect(parseMbr(mbr)).toEqual([{ index: 1, bootable: true, type: 0x83, startLba: 2048, sectors: size / 512 - FIRST_PARTITION_LBA }]);
    // CHS of LBA 2048 with 255/63 geometry is cylinder 0, head 32, sector 33 (what fdisk writes).
    expect([...mbr.subarray(447, 450)]).toEqual([32, 33, 0]);
    // End of 4 GiB: LBA 8388607 = cylinder 522, head 42, sector 32 (cylinder bits 8-9 in the sector byte).
    expect([...mbr.subarray(451, 454)]).toEqual([42, 32 | ((522 >> 2) & 0xc0), 522 & 0xff]);
    // End beyond cylinder 1023 (16 GiB): the "use LBA" marker.
    expect([...encodeMbr(16 * 1024 ** 3, 1).subarray(451, 454)]).toEqual([0xfe, 0xff, 0xff]);
  });
  it('says there is no table on a blank sector or a filesystem boot sector', () => {
    expect(parseMbr(Buffer.alloc(512))).toBeUndefined();
    const fat = Buffer.alloc(512, 0x41);
    fat[510] = 0x55;
    fat[511] = 0xaa;
    expect(parseMbr(fat)).toBeUndefined();
  });
  it('refuses a disk too small for the 1 MiB gap', () => {
    expect(() => encodeMbr(1024 * 1024, 1)).toThrow(/more than 1 MiB/);
  });
});
