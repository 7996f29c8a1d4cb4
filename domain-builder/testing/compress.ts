// Compresses test payloads with the same command-line tools (and options) Linux's build uses for bzImage payloads.
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import type { Compression } from '../kernel/decompress.js';
import { withSizeTrailer } from './synthetic-kernel.js';

/** The tool invocation of arch/x86/boot/compressed/Makefile + scripts/Makefile.lib for each payload format. */
export const COMPRESS_COMMANDS: Readonly<Record<Exclude<Compression, 'gzip'>, readonly string[]>> = {
  bzip2: ['bzip2', '-9'],
  xz: ['xz', '--check=crc32', '--x86', '--lzma2=dict=1MiB'],
  zstd: ['zstd', '-19', '-q'],
  lzma: ['lzma', '-9'],
  lzo: ['lzop', '-9'],
  lz4: ['lz4', '-l', '-12', '-q'],
};

/** Compresses `data` as a kernel payload: the format's stream plus the size trailer (none for gzip). */
export function compressPayload(data: Uint8Array, format: Compression): Uint8Array {
  if (format === 'gzip') return gzipSync(data, { level: 9 });
  const [cmd, ...args] = COMPRESS_COMMANDS[format];
  const r = spawnSync(cmd!, [...args, '-c'], { input: data, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.error?.message ?? r.stderr.toString()}`);
  return withSizeTrailer(r.stdout, data.length);
}
