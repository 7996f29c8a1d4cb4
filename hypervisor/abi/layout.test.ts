// The struct-layout helper: C alignment rules, encode/decode round trips, bounds.
import { describe, expect, it } from 'vitest';
import { array, bytes, chars, i32, ioc, struct, u16, u64, u8 } from './layout.js';

describe('struct layout helper', () => {
  const inner = struct('inner', 'test', { a: u8, b: u64 });
  const outer = struct('outer', 'test', { tag: u16, name: chars(6), inner, list: array(i32, 3), tail: u8 });

  it('places fields at their natural alignment and pads the size to the largest', () => {
    expect(inner.offsets).toEqual({ a: 0, b: 8 });
    expect(inner.size).toBe(16);
    expect(outer.offsets).toEqual({ tag: 0, name: 2, inner: 8, list: 24, tail: 36 });
    expect(outer.size).toBe(40);
    expect(outer.align).toBe(8);
  });

  it('round-trips values, zero-filling what is not given', () => {
    const buf = outer.encode({ tag: 0xbeef, name: 'abcdefgh', inner: { b: 1n << 63n }, list: [-1, 2] });
    expect(buf.length).toBe(40);
    expect(outer.decode(buf)).toEqual({ tag: 0xbeef, name: 'abcde', inner: { a: 0, b: 1n << 63n }, list: [-1, 2, 0], tail: 0 });
    expect(Array.from(buf.subarray(2, 8))).toEqual([97, 98, 99, 100, 101, 0]);
  });

  it('rejects too-long arrays and byte fields, and short buffers', () => {
    expect(() => outer.encode({ list: [1, 2, 3, 4] })).toThrow(RangeError);
    expect(() => struct('b', 't', { x: bytes(2) }).encode({ x: new Uint8Array(3) })).toThrow(RangeError);
    expect(() => outer.decode(new Uint8Array(39))).toThrow(/too few/);
  });

  it('computes Linux _IOC numbers', () => {
    expect(ioc(0, 'P', 0, 48)).toBe(0x305000);
    expect(ioc(3, 'G', 0, 24)).toBe(0xc0184700);
  });
});
