import { describe, expect, it } from 'vitest';
import { crc32, decodeGuid, derivedGuid, encodeGpt, encodeGuid, GPT_HEAD_BYTES, GPT_TYPE_LINUX_FS, gptLayout, GptFormatError, parseGpt, protectiveMbr, singlePartitionGpt } from './gpt.js';
import { parseMbr } from './mbr.js';

const MiB = 1024 * 1024;

/** A disk image in memory with the GPT written into it. */
function disk(sizeBytes: number, seed = 'seed'): Buffer {
  const d = Buffer.alloc(sizeBytes);
  for (const w of encodeGpt(singlePartitionGpt(sizeBytes / 512, seed), sizeBytes / 512)) w.bytes.copy(d, w.offset);
  return d;
}

describe('GPT', () => {
  it('computes the IEEE CRC-32 (check value of "123456789")', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
  });

  it('stores GUIDs mixed-endian (the Linux filesystem type as sgdisk writes it)', () => {
    expect(encodeGuid(GPT_TYPE_LINUX_FS).toString('hex')).toBe('af3dc60f838472478e793d69d8477de4');
    expect(decodeGuid(encodeGuid(GPT_TYPE_LINUX_FS))).toBe(GPT_TYPE_LINUX_FS);
    expect(() => encodeGuid('nope')).toThrow(/not a GUID/);
  });

  it('derives stable, distinct, version-4-shaped GUIDs', () => {
    const a = derivedGuid('u', 'gpt-disk');
    expect(a).toBe(derivedGuid('u', 'gpt-disk'));
    expect(a).not.toBe(derivedGuid('u', 'gpt-partition-1'));
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('lays out one partition from 1 MiB to the last whole MiB before the backup table', () => {
    // 64 MiB = 131072 sectors: usable 34..131038, the partition ends at 63 MiB - 1 sector.
    expect(gptLayout(131072)).toEqual({ firstUsableLba: 34, lastUsableLba: 131038, firstLba: 2048, lastLba: 63 * 2048 - 1 });
    expect(() => gptLayout(4096)).toThrow(/at least 2 MiB/);
  });

  it('writes a protective MBR, primary and backup tables that read back', () => {
    const size = 64 * MiB;
    const d = disk(size);
    const mbr = parseMbr(d.subarray(0, 512))!;
    expect(mbr).toEqual([{ index: 1, bootable: false, type: 0xee, startLba: 1, sectors: size / 512 - 1 }]);
    expect(d.subarray(512, 520).toString('latin1')).toBe('EFI PART');
    const gpt = parseGpt(d.subarray(0, GPT_HEAD_BYTES))!;
    expect(gpt.firstUsableLba).toBe(34);
    expect(gpt.lastUsableLba).toBe(size / 512 - 34);
    expect(gpt.alternateLba).toBe(size / 512 - 1);
    expect(gpt.diskGuid).toBe(derivedGuid('seed', 'gpt-disk'));
    expect(gpt.partitions).toEqual([
      { index: 1, typeGuid: GPT_TYPE_LINUX_FS, guid: derivedGuid('seed', 'gpt-partition-1'), firstLba: 2048, lastLba: 63 * 2048 - 1, attributes: 0n, name: 'root' },
    ]);
    // Backup header in the last sector: MyLBA and AlternateLBA swapped, entries just before it, same array.
    const last = d.subarray(size - 512);
    expect(last.subarray(0, 8).toString('latin1')).toBe('EFI PART');
    expect(Number(last.readBigUInt64LE(24))).toBe(size / 512 - 1);
    expect(Number(last.readBigUInt64LE(32))).toBe(1);
    expect(Number(last.readBigUInt64LE(72))).toBe(size / 512 - 33);
    expect(d.subarray(size - 33 * 512, size - 512).equals(d.subarray(1024, 34 * 512))).toBe(true);
    const h = Buffer.from(last.subarray(0, 92));
    const crc = h.readUInt32LE(16);
    h.writeUInt32LE(0, 16);
    expect(crc32(h)).toBe(crc);
  });

  it('caps the protective entry at 2^32-1 sectors on disks over 2 TiB', () => {
    expect(protectiveMbr(2 ** 33).readUInt32LE(446 + 12)).toBe(0xffff_ffff);
  });

  it('has no GPT on a blank or MBR-only disk, and refuses corrupt ones', () => {
    expect(parseGpt(Buffer.alloc(GPT_HEAD_BYTES))).toBeUndefined();
    const d = disk(8 * MiB);
    const badHeader = Buffer.from(d.subarray(0, GPT_HEAD_BYTES));
    badHeader.writeUInt8(badHeader.readUInt8(512 + 40) ^ 1, 512 + 40); // FirstUsableLBA changed behind the CRC's back
    expect(() => parseGpt(badHeader)).toThrow(GptFormatError);
    expect(() => parseGpt(badHeader)).toThrow(/header CRC/);
    const badEntries = Buffer.from(d.subarray(0, GPT_HEAD_BYTES));
    badEntries.writeUInt8(badEntries.readUInt8(1024 + 40) ^ 1, 1024 + 40);
    expect(() => parseGpt(badEntries)).toThrow(/entry array CRC/);
  });
});
