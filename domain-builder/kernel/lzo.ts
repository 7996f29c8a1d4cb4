// LZO1X decompression (the algorithm of lzo1x_decompress_safe) and the lzop container Linux uses for
// CONFIG_KERNEL_LZO payloads. Written from the format description in Linux's
// Documentation/staging/lzo.rst and lib/decompress_unlzo.c (header layout); every read and copy
// is bounds-checked so corrupt input raises LzoError, never a RangeError or a hang.

/** A malformed LZO stream. */
export class LzoError extends Error {}

/**
 * Decompresses one raw LZO1X block `src` into exactly `outLen` bytes (lzop records the size).
 * Throws LzoError on any overrun, bad distance or missing end marker.
 */
export function lzo1xDecompress(src: Uint8Array, outLen: number): Uint8Array {
  const out = new Uint8Array(outLen);
  let ip = 0;
  let op = 0;
  const need = (n: number) => { if (ip + n > src.length) throw new LzoError(`input overrun at ${ip}`); };
  const literals = (n: number) => {
    need(n);
    if (op + n > outLen) throw new LzoError(`output overrun at ${op}`);
    out.set(src.subarray(ip, ip + n), op);
    ip += n; op += n;
  };
  const extended = (base: number): number => {
    let n = 0;
    need(1);
    while (src[ip] === 0) {
      n += 255; ip++; need(1);
      if (n > 0x7fff_ffff) throw new LzoError('length run too long');
    }
    return base + n + src[ip++]!;
  };
  const match = (dist: number, len: number) => {
    if (dist > op || dist <= 0) throw new LzoError(`lookbehind overrun: distance ${dist} at output ${op}`);
    if (op + len > outLen) throw new LzoError(`output overrun at ${op}`);
    let from = op - dist;
    for (let i = 0; i < len; i++) out[op++] = out[from++]!;
  };

  let state = 0;
  need(1);
  if (src[0]! > 17) {
    const t = src[ip++]! - 17;
    literals(t);
    state = t < 4 ? t : 4;
  }
  for (;;) {
    need(1);
    const inst = src[ip++]!;
    let s: number;
    if (inst < 16) {
      if (state === 0) {
        const len = inst !== 0 ? inst + 3 : extended(15) + 3;
        literals(len);
        state = 4;
        continue;
      }
      need(1);
      const h = src[ip++]!;
      if (state < 4) match((h << 2) + (inst >> 2) + 1, 2);
      else match((h << 2) + (inst >> 2) + 2049, 3);
      s = inst & 3;
    } else if (inst < 32) {
      const l = inst & 7;
      const len = 2 + (l !== 0 ? l : extended(7));
      need(2);
      const le16 = src[ip]! | (src[ip + 1]! << 8);
      ip += 2;
      const dist = 16384 + ((inst & 8) << 11) + (le16 >> 2);
      if (dist === 16384) {
        if (op !== outLen) throw new LzoError(`stream ended after ${op} of ${outLen} bytes`);
        return out;
      }
      match(dist, len);
      s = le16 & 3;
    } else if (inst < 64) {
      const l = inst & 31;
      const len = 2 + (l !== 0 ? l : extended(31));
      need(2);
      const le16 = src[ip]! | (src[ip + 1]! << 8);
      ip += 2;
      match((le16 >> 2) + 1, len);
      s = le16 & 3;
    } else {
      need(1);
      const h = src[ip++]!;
      const d = (inst >> 2) & 7;
      const len = inst < 128 ? 3 + ((inst >> 5) & 1) : 5 + ((inst >> 5) & 3);
      match((h << 3) + d + 1, len);
      s = inst & 3;
    }
    literals(s);
    state = s;
  }
}

/** lzop file magic (lib/decompress_unlzo.c lzop_magic). */
export const LZOP_MAGIC = Uint8Array.from([0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]);

const F_ADLER32_D = 0x1;
const F_ADLER32_C = 0x2;
const F_H_FILTER = 0x800;
const F_CRC32_D = 0x100;
const F_CRC32_C = 0x200;

/**
 * Decompresses an lzop stream (possibly several concatenated, as the kernel's payload is one),
 * refusing to produce more than `limit` bytes.
 */
export function unlzop(src: Uint8Array, limit: number): Uint8Array {
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  let ip = 0;
  const need = (n: number) => { if (ip + n > src.length) throw new LzoError(`lzop stream cut short at ${ip}`); };
  const u8 = () => { need(1); return src[ip++]!; };
  const u16 = () => { need(2); const v = dv.getUint16(ip, false); ip += 2; return v; };
  const u32 = () => { need(4); const v = dv.getUint32(ip, false); ip += 4; return v; };
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (ip < src.length) {
    for (let i = 0; i < LZOP_MAGIC.length; i++) {
      if (u8() !== LZOP_MAGIC[i]) throw new LzoError('bad lzop magic');
    }
    const version = u16();
    u16(); // library version
    if (version >= 0x0940) u16(); // version needed to extract
    const method = u8();
    if (method < 1 || method > 3) throw new LzoError(`unsupported lzop method ${method}`);
    if (version >= 0x0940) u8(); // level
    const flags = u32();
    if (flags & F_H_FILTER) u32();
    u32(); // mode
    u32(); // mtime low
    if (version >= 0x0940) u32(); // mtime high
    const nameLen = u8();
    need(nameLen); ip += nameLen;
    u32(); // header checksum
    for (;;) {
      const dstLen = u32();
      if (dstLen === 0) break;
      if (dstLen > 64 * 1024 * 1024) throw new LzoError(`lzop block of ${dstLen} bytes is too large`);
      const srcLen = u32();
      if (flags & F_ADLER32_D) u32();
      if (flags & F_CRC32_D) u32();
      if (srcLen < dstLen) {
        if (flags & F_ADLER32_C) u32();
        if (flags & F_CRC32_C) u32();
      }
      need(srcLen);
      if (srcLen > dstLen) throw new LzoError('lzop block larger compressed than plain');
      if (total + dstLen > limit) throw new LzoError(`output exceeds ${limit} bytes`);
      const block = src.subarray(ip, ip + srcLen);
      ip += srcLen;
      chunks.push(srcLen === dstLen ? block : lzo1xDecompress(block, dstLen));
      total += dstLen;
    }
    // The kernel appends a 4-byte size after the stream; stop at anything that is not another stream.
    if (src.length - ip < LZOP_MAGIC.length || src[ip] !== LZOP_MAGIC[0]) break;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}
