// The compressions a Linux bzImage payload can use, as an explicit table keyed by magic bytes.
//
// Magics follow tools/libs/guest/xg_dom_bzimageloader.c and arch/x86/boot/compressed/Makefile
// (every format except gzip gets a 4-byte little-endian uncompressed size appended: `*_with_size`).
// Each decoder returns a new buffer and is bounded by an output limit; failures become
// TXL_KERNEL_CORRUPT_PAYLOAD with the format named.
import { gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import lzma from 'lzma-native';
import Bunzip from 'seek-bzip';
import { DomainBuilderError } from '../errors.js';
import { unlz4Legacy } from './lz4.js';
import { unlzop } from './lzo.js';
import { nativeDecoder } from './native.js';

/** Names of the payload compressions. */
export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'lzma' | 'lzo' | 'lz4';

/** Largest decompressed kernel accepted (libxenguest's limit is 1 GiB as well). */
export const MAX_DECOMPRESSED = 1 << 30;

/** One entry of the table. */
export interface Decompressor {
  readonly name: Compression;
  readonly magic: readonly number[];
  /** Whether the kernel appends the uncompressed size (LE32) after the stream. */
  readonly sizeTrailer: boolean;
  /** `expected` is the trailer's size when the payload has one (lets a decoder allocate once). */
  readonly decode: (data: Uint8Array, limit: number, expected?: number) => Promise<Uint8Array>;
}

function viaLzma(data: Uint8Array, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const stream = lzma.createStream('autoDecoder', { memlimit: 512 * 1024 * 1024 });
    const chunks: Buffer[] = [];
    let total = 0;
    let failed = false;
    stream.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit && !failed) {
        failed = true;
        stream.destroy();
        reject(new Error(`output exceeds ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    stream.on('error', (e: Error) => { if (!failed) { failed = true; reject(e); } });
    stream.on('end', () => { if (!failed) resolve(Buffer.concat(chunks, total)); });
    stream.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
}

/** Whether a size trailer is believable enough to allocate the output from it. */
function plausible(d: Uint8Array, expected: number | undefined): boolean {
  return expected !== undefined && expected > 0 && expected <= d.length * 32;
}

/** The table, probed in this order on the payload's first bytes. */
export const DECOMPRESSORS: readonly Decompressor[] = [
  { name: 'gzip', magic: [0x1f, 0x8b], sizeTrailer: false, decode: async (d, limit) => gunzipSync(d, { maxOutputLength: limit }) },
  { name: 'bzip2', magic: [0x42, 0x5a, 0x68], sizeTrailer: true, decode: async (d) => Bunzip.decode(d) },
  // xz and zstd (Debian's kernels) go through the native libraries when present (native.ts), into a buffer
  // of the trailer's size; the trailer is trusted for that only when plausible (zstd -22 gives ~5x on a
  // kernel), so a corrupt trailer cannot make us allocate and clear up to the 1 GiB limit.
  {
    name: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], sizeTrailer: true,
    decode: async (d, limit, expected) => {
      const native = plausible(d, expected) ? await nativeDecoder('xz') : undefined;
      return native ? native(d, expected!) : viaLzma(d, limit);
    },
  },
  // Without libzstd: fzstd, ~10x faster into a preallocated buffer (the kernel's frames carry no content size).
  {
    name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], sizeTrailer: true,
    decode: async (d, _limit, expected) => {
      if (!plausible(d, expected)) return zstdDecompress(d);
      const native = await nativeDecoder('zstd');
      return native ? native(d, expected!) : zstdDecompress(d, new Uint8Array(expected!));
    },
  },
  { name: 'lzma', magic: [0x5d, 0x00], sizeTrailer: true, decode: viaLzma },
  { name: 'lzo', magic: [0x89, 0x4c, 0x5a, 0x4f, 0x00], sizeTrailer: true, decode: async (d, limit) => unlzop(d, limit) },
  { name: 'lz4', magic: [0x02, 0x21, 0x4c, 0x18], sizeTrailer: true, decode: async (d, limit) => unlz4Legacy(d, limit) },
];

/** The decompressor whose magic starts `data`, if any. */
export function detectCompression(data: Uint8Array): Decompressor | undefined {
  return DECOMPRESSORS.find((d) => d.magic.length <= data.length && d.magic.every((b, i) => data[i] === b));
}

/**
 * Decompresses a bzImage payload (or a gzip-compressed kernel file). For formats with a size
 * trailer, the trailer is stripped before decoding and the output length must match it.
 */
export async function decompressPayload(data: Uint8Array, source: string, limit = MAX_DECOMPRESSED): Promise<{ compression: Compression; bytes: Uint8Array }> {
  const d = detectCompression(data);
  if (!d) {
    const head = Array.from(data.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new DomainBuilderError('TXL_KERNEL_UNRECOGNISED', `${source}: unknown payload compression (first bytes ${head || 'none'}); known: ${DECOMPRESSORS.map((x) => x.name).join(', ')}`, {
      details: { file: source },
    });
  }
  let input = data;
  let expected: number | undefined;
  if (d.sizeTrailer && data.length >= d.magic.length + 4) {
    expected = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(data.length - 4, true);
    input = data.subarray(0, data.length - 4);
    if (expected > limit) {
      throw new DomainBuilderError('TXL_KERNEL_CORRUPT_PAYLOAD', `${source}: ${d.name} payload claims ${expected} bytes uncompressed, more than the ${limit}-byte limit`, { details: { file: source, compression: d.name } });
    }
  }
  let out: Uint8Array;
  try {
    out = await d.decode(input, limit, expected);
  } catch (error) {
    throw new DomainBuilderError('TXL_KERNEL_CORRUPT_PAYLOAD', `${source}: the ${d.name}-compressed kernel payload is corrupt: ${error instanceof Error ? error.message : String(error)}`, {
      details: { file: source, compression: d.name },
      cause: error,
      hint: 'the kernel file is probably damaged or truncated; reinstall the kernel package',
    });
  }
  if (expected !== undefined && out.length !== expected) {
    throw new DomainBuilderError('TXL_KERNEL_CORRUPT_PAYLOAD', `${source}: the ${d.name} payload decompressed to ${out.length} bytes but its trailer says ${expected}`, {
      details: { file: source, compression: d.name },
    });
  }
  if (out.length > limit) {
    throw new DomainBuilderError('TXL_KERNEL_CORRUPT_PAYLOAD', `${source}: the ${d.name} payload expands beyond ${limit} bytes`, { details: { file: source, compression: d.name } });
  }
  return { compression: d.name, bytes: out };
}
