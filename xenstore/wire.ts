// The xenstore wire format: message types, the 16-byte header, limits, and a streaming frame decoder.
//
// Mirrors xen/include/public/io/xs_wire.h of Xen 4.17 (struct xsd_sockmsg, enum xsd_sockmsg_type,
// XENSTORE_PAYLOAD_MAX, XENSTORE_ABS_PATH_MAX, XENSTORE_REL_PATH_MAX). All integers little-endian.

/** enum xsd_sockmsg_type (xs_wire.h, Xen 4.17). 20 was XS_RESTRICT and is unused. */
export const XsType = {
  CONTROL: 0,
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  INTRODUCE: 8,
  RELEASE: 9,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESUME: 18,
  SET_TARGET: 19,
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
  /** Number of valid types in 4.17 (XS_TYPE_COUNT). */
  TYPE_COUNT: 23,
  INVALID: 0xffff,
} as const;

/** A message type number. */
export type XsTypeNumber = (typeof XsType)[keyof typeof XsType];

/** Name of a type number ("READ"), or "TYPE_<n>" for unknown numbers. */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE_${type}`;
}

// Built once: typeName() is on every request's path.
const TYPE_NAMES = new Map<number, string>(Object.entries(XsType).filter(([name]) => name !== 'TYPE_COUNT').reverse().map(([name, value]) => [value, name])); // first name wins

/** sizeof(struct xsd_sockmsg). */
export const HEADER_SIZE = 16;
/** XENSTORE_PAYLOAD_MAX: a longer payload makes xenstored drop the connection. */
export const PAYLOAD_MAX = 4096;
/** XENSTORE_ABS_PATH_MAX. */
export const ABS_PATH_MAX = 3072;
/** XENSTORE_REL_PATH_MAX (also C xenstored's default quota_max_path_len). */
export const REL_PATH_MAX = 2048;

/** One xenstore message: header fields and payload. */
export interface XsFrame {
  readonly type: number;
  readonly reqId: number;
  readonly txId: number;
  readonly payload: Buffer;
}

/** Encodes a frame (header + payload). Does not check limits; the client does before calling. */
export function encodeFrame(frame: XsFrame): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + frame.payload.length);
  out.writeUInt32LE(frame.type >>> 0, 0);
  out.writeUInt32LE(frame.reqId >>> 0, 4);
  out.writeUInt32LE(frame.txId >>> 0, 8);
  out.writeUInt32LE(frame.payload.length, 12);
  frame.payload.copy(out, HEADER_SIZE);
  return out;
}

/** Why the decoder refused a stream. */
export class FrameError extends Error {
  constructor(
    message: string,
    readonly header: { type: number; reqId: number; txId: number; len: number },
  ) {
    super(message);
  }
}

/**
 * Splits a byte stream into frames. Feed it chunks as they arrive; it returns the complete frames.
 * A header announcing more than `maxPayload` bytes throws FrameError (the stream cannot be resynchronised).
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failed: FrameError | undefined;

  constructor(private readonly maxPayload: number = PAYLOAD_MAX) {}

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Adds bytes; returns every frame they complete (possibly none). */
  push(chunk: Uint8Array): XsFrame[] {
    if (this.failed) throw this.failed;
    if (chunk.length) {
      this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.buffered += chunk.length;
    }
    const frames: XsFrame[] = [];
    while (this.buffered >= HEADER_SIZE) {
      const head = this.peek(HEADER_SIZE);
      const type = head.readUInt32LE(0);
      const reqId = head.readUInt32LE(4);
      const txId = head.readUInt32LE(8);
      const len = head.readUInt32LE(12);
      if (len > this.maxPayload) {
        this.failed = new FrameError(`frame announces ${len} payload bytes; at most ${this.maxPayload} are allowed (XENSTORE_PAYLOAD_MAX)`, { type, reqId, txId, len });
        throw this.failed;
      }
      if (this.buffered < HEADER_SIZE + len) break;
      const whole = this.take(HEADER_SIZE + len);
      frames.push({ type, reqId, txId, payload: whole.subarray(HEADER_SIZE) });
    }
    return frames;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = Buffer.from(first.subarray(0, n));
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const joined = Buffer.concat(this.chunks);
      out = Buffer.from(joined.subarray(0, n));
      this.chunks = joined.length > n ? [joined.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}

/** NUL-terminated strings of a payload: `a\0b\0` -> ['a','b']. Bytes after the last NUL are ignored. */
export function splitStrings(payload: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < payload.length; i++) {
    if (payload[i] === 0) {
      out.push(payload.toString('utf8', start, i));
      start = i + 1;
    }
  }
  return out;
}

/** Payload of NUL-terminated strings: ['a','b'] -> `a\0b\0`. */
export function joinStrings(parts: readonly string[]): Buffer {
  return Buffer.from(parts.map((p) => `${p}\0`).join(''), 'utf8');
}

/** Number of NUL bytes in a payload (xs_count_strings). */
export function countStrings(payload: Buffer): number {
  let n = 0;
  for (const b of payload) if (b === 0) n++;
  return n;
}
