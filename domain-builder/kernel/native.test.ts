// Native libzstd/liblzma decoders: present on the dev and CI hosts, same bytes as the JS decoders, and
// corrupt, truncated or mis-sized payloads rejected (the loader turns the throw into TXL_KERNEL_CORRUPT_PAYLOAD).
import { decompress as zstdJs } from 'fzstd';
import { describe, expect, it } from 'vitest';
import { compressPayload } from '../testing/compress.js';
import { pattern } from '../testing/synthetic-kernel.js';
import { nativeDecoders } from './native.js';

// Half random, half repetitive: compressible like a kernel, and long enough for several xz/zstd blocks.
const plain = Buffer.concat([pattern(1 << 20, 7), Buffer.alloc(1 << 20, 0x90), Buffer.from(pattern(1 << 19, 9))]);

function stream(format: 'zstd' | 'xz'): Uint8Array {
  const p = compressPayload(plain, format);
  return p.subarray(0, p.length - 4); // the loader strips the size trailer before decoding
}

describe('native decoders', () => {
  it('are available here (libzstd.so.1, liblzma.so.5 and koffi)', async () => {
    const n = await nativeDecoders();
    expect(n.zstd).toBeDefined();
    expect(n.xz).toBeDefined();
  });

  for (const format of ['zstd', 'xz'] as const) {
    it(`${format}: decodes to the original bytes (xz: through the x86 BCJ filter), as the JS decoder does`, async () => {
      const decode = (await nativeDecoders())[format]!;
      const data = stream(format);
      const out = decode(data, plain.length);
      expect(Buffer.from(out).equals(plain)).toBe(true);
      if (format === 'zstd') expect(Buffer.from(zstdJs(data)).equals(plain)).toBe(true);
    });

    it(`${format}: refuses corrupt and truncated streams and a wrong size trailer`, async () => {
      const decode = (await nativeDecoders())[format]!;
      const data = Buffer.from(stream(format));
      const corrupt = Buffer.from(data);
      for (let i = 32; i < corrupt.length - 8; i += 101) corrupt[i] = corrupt[i]! ^ 0x5a;
      expect(() => decode(corrupt, plain.length)).toThrow(format === 'zstd' ? /libzstd/ : /liblzma/);
      expect(() => decode(data.subarray(0, data.length >> 1), plain.length)).toThrow();
      expect(() => decode(data, plain.length - 1)).toThrow();
      expect(() => decode(data, plain.length + 4096)).toThrow(/size trailer|LZMA_BUF_ERROR|LZMA_DATA_ERROR/);
    });
  }
});
