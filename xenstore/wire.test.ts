import { describe, expect, it } from 'vitest';
import { countStrings, encodeFrame, FrameDecoder, FrameError, HEADER_SIZE, joinStrings, PAYLOAD_MAX, splitStrings, typeName, XsType } from './wire.js';

describe('xs_wire.h mirror', () => {
  it('has the 4.17 type numbers and limits', () => {
    // Values of enum xsd_sockmsg_type, XENSTORE_PAYLOAD_MAX and sizeof(struct xsd_sockmsg) in Xen 4.17.
    expect([XsType.CONTROL, XsType.DIRECTORY, XsType.READ, XsType.GET_PERMS, XsType.WATCH, XsType.UNWATCH]).toEqual([0, 1, 2, 3, 4, 5]);
    expect([XsType.TRANSACTION_START, XsType.TRANSACTION_END, XsType.INTRODUCE, XsType.RELEASE, XsType.GET_DOMAIN_PATH]).toEqual([6, 7, 8, 9, 10]);
    expect([XsType.WRITE, XsType.MKDIR, XsType.RM, XsType.SET_PERMS, XsType.WATCH_EVENT, XsType.ERROR]).toEqual([11, 12, 13, 14, 15, 16]);
    expect([XsType.IS_DOMAIN_INTRODUCED, XsType.RESUME, XsType.SET_TARGET, XsType.RESET_WATCHES, XsType.DIRECTORY_PART, XsType.TYPE_COUNT]).toEqual([17, 18, 19, 21, 22, 23]);
    expect(XsType.INVALID).toBe(0xffff);
    expect(HEADER_SIZE).toBe(16);
    expect(PAYLOAD_MAX).toBe(4096);
    expect(typeName(11)).toBe('WRITE');
    expect(typeName(20)).toBe('TYPE_20');
  });

  it('lays the header out as four little-endian u32: type, req_id, tx_id, len', () => {
    const frame = encodeFrame({ type: XsType.WRITE, reqId: 0x01020304, txId: 0xa0b0c0d0, payload: Buffer.from('/a\0v') });
    expect(frame.subarray(0, 16).toString('hex')).toBe('0b000000' + '04030201' + 'd0c0b0a0' + '04000000');
    expect(frame.subarray(16).toString('latin1')).toBe('/a\0v');
  });
});

describe('FrameDecoder', () => {
  const frames = [
    { type: 2, reqId: 1, txId: 0, payload: Buffer.from('value') },
    { type: 15, reqId: 0, txId: 0, payload: Buffer.from('/p\0tok\0') },
    { type: 1, reqId: 7, txId: 3, payload: Buffer.alloc(0) },
    { type: 2, reqId: 9, txId: 0, payload: Buffer.alloc(PAYLOAD_MAX, 0x61) },
  ];
  const stream = Buffer.concat(frames.map(encodeFrame));

  it('decodes a stream cut at every possible point into the same frames', () => {
    for (let cut = 0; cut <= stream.length; cut += 7) {
      const d = new FrameDecoder();
      const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(got.map((f) => [f.type, f.reqId, f.txId, f.payload.toString('hex')])).toEqual(frames.map((f) => [f.type, f.reqId, f.txId, f.payload.toString('hex')]));
      expect(d.pendingBytes).toBe(0);
    }
  });

  it('decodes byte by byte', () => {
    const d = new FrameDecoder();
    const got = [];
    for (const b of stream) got.push(...d.push(Buffer.from([b])));
    expect(got).toHaveLength(frames.length);
  });

  it('keeps a truncated frame pending and refuses an oversized header for good', () => {
    const d = new FrameDecoder();
    expect(d.push(stream.subarray(0, 20))).toEqual([]);
    expect(d.pendingBytes).toBe(20);
    const bad = Buffer.alloc(16);
    bad.writeUInt32LE(PAYLOAD_MAX + 1, 12);
    const d2 = new FrameDecoder();
    expect(() => d2.push(bad)).toThrow(FrameError);
    expect(() => d2.push(Buffer.alloc(0))).toThrow(/4097 payload bytes/);
  });
});

describe('string payloads', () => {
  it('splits and joins NUL-terminated strings', () => {
    expect(splitStrings(Buffer.from('a\0bc\0\0'))).toEqual(['a', 'bc', '']);
    expect(splitStrings(Buffer.from('a\0trailing'))).toEqual(['a']);
    expect(joinStrings(['x', '', 'yz']).toString('latin1')).toBe('x\0\0yz\0');
    expect(countStrings(Buffer.from('a\0b\0c'))).toBe(2);
  });
});
