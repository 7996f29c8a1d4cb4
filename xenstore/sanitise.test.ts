import { describe, expect, it } from 'vitest';
import { sanitiseValue, unsanitiseValue } from './sanitise.js';

describe('sanitise_value', () => {
  it('escapes like xs_lib.c', () => {
    expect(sanitiseValue(Buffer.from('plain text ~!'))).toBe('plain text ~!');
    expect(sanitiseValue(Buffer.from('\t\n\r\\'))).toBe('\\t\\n\\r\\\\');
    expect(sanitiseValue(Buffer.from([0, 7, 8, 0x1f, 0x7f, 0x80, 0xff]))).toBe('\\000\\007\\x08\\x1f\\x7f\\x80\\xff');
  });
});

describe('unsanitise_value', () => {
  const u = (s: string) => unsanitiseValue(Buffer.from(s, 'latin1')).toString('latin1');
  it('undoes the escapes, with the C quirks', () => {
    expect(u('a\\tb\\nc\\rd\\\\e')).toBe('a\tb\nc\rd\\e');
    expect(u('\\x41\\x4a\\x4')).toBe('AJ\x04');
    expect(u('\\101\\0\\7x')).toBe('A\0\x07x');
    expect(u('\\777')).toBe('\xff');
    expect(u('\\q\\xzz')).toBe('qxzz');
    expect(u('end\\')).toBe('end\0');
  });
  it('round-trips every byte value', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(unsanitiseValue(Buffer.from(sanitiseValue(all), 'latin1')).toString('hex')).toBe(all.toString('hex'));
  });
});
