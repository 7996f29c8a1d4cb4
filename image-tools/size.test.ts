import { describe, expect, it } from 'vitest';
import { formatSize, parseSize, parseSizeAtLeast } from './size.js';

describe('parseSize', () => {
  it('reads binary and decimal units', () => {
    expect(parseSize('4G')).toBe(4 * 1024 ** 3);
    expect(parseSize('4GiB')).toBe(4 * 1024 ** 3);
    expect(parseSize('512M')).toBe(512 * 1024 ** 2);
    expect(parseSize('1.5 GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('1GB')).toBe(1_000_000_000); // 1e9 is a whole number of sectors
    expect(parseSize('1kB')).toBe(1024); // 1000 rounded up to 2 sectors
    expect(parseSize('100k')).toBe(102400);
    expect(parseSize(4096)).toBe(4096);
  });
  it('rounds up to whole sectors', () => {
    expect(parseSize('1')).toBe(512);
    expect(parseSize('513')).toBe(1024);
  });
  it('explains bad input with the field name', () => {
    expect(() => parseSize('four gigs', 'size')).toThrow(/size: 'four gigs' is not a size/);
    expect(() => parseSize('4X')).toThrow(/unknown unit 'X'/);
    expect(() => parseSize('-1G')).toThrow(/not a size/);
    expect(() => parseSizeAtLeast('1M', 8 * 1024 * 1024, 'size')).toThrow(/1 MiB is too small; at least 8 MiB/);
  });
  it('formats sizes', () => {
    expect(formatSize(4 * 1024 ** 3)).toBe('4 GiB');
    expect(formatSize(1536 * 1024)).toBe('1.5 MiB');
    expect(formatSize(100)).toBe('100 B');
  });
});
