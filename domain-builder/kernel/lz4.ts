// LZ4 legacy frames (`lz4 -l`, the format of CONFIG_KERNEL_LZ4 payloads): magic 0x184C2102, then
// blocks of {u32 LE compressed size, LZ4 block} each expanding to at most 8 MiB (lib/decompress_unlz4.c).
// The block decoder is bounds-checked so corrupt input raises Lz4Error.

/** A malformed LZ4 stream. */
export class Lz4Error extends Error {}

/** Legacy frame magic, little-endian on disk: 02 21 4c 18. */
export const LZ4_LEGACY_MAGIC = 0x184c2102;
/** Largest block a legacy frame holds (LZ4_DEFAULT_UNCOMPRESSED_CHUNK_SIZE). */
export const LZ4_LEGACY_BLOCK = 8 << 20;

/** Decodes one LZ4 block into `dst` from offset 0; returns the number of bytes written. */
export function lz4DecodeBlock(src: Uint8Array, dst: Uint8Array): number {
  let ip = 0;
  let op = 0;
  const end = src.length;
  while (ip < end) {
    const token = src[ip++]!;
    let lit = token >> 4;
    if (lit === 15) {
      for (;;) {
        if (ip >= end) throw new Lz4Error('literal length runs past the block');
        const b = src[ip++]!;
        lit += b;
        if (b !== 255) break;
      }
    }
    if (ip + lit > end) throw new Lz4Error('literals run past the block');
    if (op + lit > dst.length) throw new Lz4Error('output overrun');
    dst.set(src.subarray(ip, ip + lit), op);
    ip += lit; op += lit;
    if (ip >= end) break; // the last sequence has literals only
    if (ip + 2 > end) throw new Lz4Error('match offset runs past the block');
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) throw new Lz4Error(`bad match offset ${offset} at output ${op}`);
    let len = token & 15;
    if (len === 15) {
      for (;;) {
        if (ip >= end) throw new Lz4Error('match length runs past the block');
        const b = src[ip++]!;
        len += b;
        if (b !== 255) break;
      }
    }
    len += 4;
    if (op + len > dst.length) throw new Lz4Error('output overrun');
    let from = op - offset;
    for (let i = 0; i < len; i++) dst[op++] = dst[from++]!;
  }
  return op;
}

/** Decompresses a legacy-frame LZ4 stream (frames may repeat), producing at most `limit` bytes. */
export function unlz4Legacy(src: Uint8Array, limit: number): Uint8Array {
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  if (src.length < 4 || dv.getUint32(0, true) !== LZ4_LEGACY_MAGIC) throw new Lz4Error('no LZ4 legacy magic');
  let ip = 4;
  const chunks: Uint8Array[] = [];
  let total = 0;
  const scratch = new Uint8Array(LZ4_LEGACY_BLOCK);
  while (ip + 4 <= src.length) {
    const size = dv.getUint32(ip, true);
    ip += 4;
    if (size === LZ4_LEGACY_MAGIC) continue; // a concatenated frame
    if (size === 0) break;
    if (ip + size > src.length) throw new Lz4Error(`block of ${size} bytes runs past the input`);
    const n = lz4DecodeBlock(src.subarray(ip, ip + size), scratch);
    ip += size;
    if (total + n > limit) throw new Lz4Error(`output exceeds ${limit} bytes`);
    chunks.push(scratch.slice(0, n));
    total += n;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}
