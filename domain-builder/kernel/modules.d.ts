// Minimal types for the two untyped decompression packages the kernel loader uses.

declare module 'lzma-native' {
  import type { Duplex } from 'node:stream';
  /** liblzma's auto decoder (xz with any filter chain, incl. x86 BCJ, and .lzma "alone"). */
  export function createStream(coder: 'autoDecoder' | 'aloneDecoder', options?: { memlimit?: number }): Duplex;
  const lzma: { createStream: typeof createStream };
  export default lzma;
}

declare module 'seek-bzip' {
  /** Decodes a whole bzip2 stream; throws on corrupt data. */
  export function decode(input: Uint8Array, output?: number, multistream?: boolean): Uint8Array;
  const Bunzip: { decode: typeof decode };
  export default Bunzip;
}
