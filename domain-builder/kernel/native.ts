// Native one-shot decoders for the two payload formats Debian's kernels use (xz on bookworm, zstd on trixie),
// through koffi and the system's libzstd / liblzma, when both are present.
//
// Why: a 12 MB zstd bzImage (trixie's 6.12) takes fzstd ~7 s on the host and minutes in a TCG dom0, where
// libxenguest decodes natively; libzstd does it ~20x faster, liblzma's one-shot buffer decoder ~2.5x faster
// than lzma-native's stream. The JS decoders stay the fallback (no koffi, no library, unknown output size).
// Signatures follow zstd.h (ZSTD_decompress, ZSTD_isError, ZSTD_getErrorName) and lzma/container.h
// (lzma_stream_buffer_decode; lzma_ret in lzma/base.h: LZMA_OK = 0).

/** A native decoder: `expected` is the exact output length (the payload's size trailer). */
export type NativeDecode = (data: Uint8Array, expected: number) => Uint8Array;

/** The native decoders found on this system (each undefined when its library or koffi is missing). */
export interface NativeDecoders {
  readonly zstd: NativeDecode | undefined;
  readonly xz: NativeDecode | undefined;
}

/** lzma_ret names (lzma/base.h) for error messages. */
const LZMA_RET: Readonly<Record<number, string>> = {
  1: 'LZMA_STREAM_END', 2: 'LZMA_NO_CHECK', 3: 'LZMA_UNSUPPORTED_CHECK', 4: 'LZMA_GET_CHECK', 5: 'LZMA_MEM_ERROR',
  6: 'LZMA_MEMLIMIT_ERROR', 7: 'LZMA_FORMAT_ERROR', 8: 'LZMA_OPTIONS_ERROR', 9: 'LZMA_DATA_ERROR', 10: 'LZMA_BUF_ERROR', 11: 'LZMA_PROG_ERROR',
};

const loaded = new Map<keyof NativeDecoders, Promise<NativeDecode | undefined>>();

/**
 * The native decoder of one format, its library loaded on first use only (loading both cost ~3 s per
 * process in a TCG dom0, for a kernel that needs one); never throws (undefined when missing).
 */
export function nativeDecoder(format: keyof NativeDecoders): Promise<NativeDecode | undefined> {
  let decoder = loaded.get(format);
  if (!decoder) {
    decoder = load(format);
    loaded.set(format, decoder);
  }
  return decoder;
}

/** Both native decoders (see nativeDecoder). */
export async function nativeDecoders(): Promise<NativeDecoders> {
  const [zstd, xz] = await Promise.all([nativeDecoder('zstd'), nativeDecoder('xz')]);
  return { zstd, xz };
}

async function load(format: keyof NativeDecoders): Promise<NativeDecode | undefined> {
  if (process.env['TXL_NO_NATIVE_DECOMPRESS']) return undefined;
  let koffi: typeof import('koffi').default;
  try {
    koffi = (await import('koffi')).default;
  } catch {
    return undefined;
  }
  try {
    return format === 'zstd' ? zstdDecoder(koffi) : xzDecoder(koffi);
  } catch {
    return undefined;
  }
}

function zstdDecoder(koffi: typeof import('koffi').default): NativeDecode {
  const lib = koffi.load('libzstd.so.1');
  const decompress = lib.func('size_t ZSTD_decompress(_Out_ uint8_t *dst, size_t dstCapacity, const uint8_t *src, size_t srcSize)');
  const isError = lib.func('unsigned int ZSTD_isError(size_t code)');
  const errorName = lib.func('const char *ZSTD_getErrorName(size_t code)');
  return (data, expected) => {
    const out = new Uint8Array(expected);
    const n = decompress(out, expected, data, data.length) as number | bigint;
    if (isError(n) as number) throw new Error(`libzstd: ${String(errorName(n))}`);
    if (Number(n) !== expected) throw new Error(`libzstd: decoded ${Number(n)} bytes, the size trailer says ${expected}`);
    return out;
  };
}

function xzDecoder(koffi: typeof import('koffi').default): NativeDecode {
  const lib = koffi.load('liblzma.so.5');
  const decode = lib.func('int lzma_stream_buffer_decode(_Inout_ uint64_t *memlimit, uint32_t flags, void *allocator, const uint8_t *in, _Inout_ size_t *in_pos, size_t in_size, _Out_ uint8_t *out, _Inout_ size_t *out_pos, size_t out_size)');
  return (data, expected) => {
    const out = new Uint8Array(expected);
    const memlimit = [512 * 1024 * 1024];
    const inPos = [0];
    const outPos = [0];
    const ret = decode(memlimit, 0, null, data, inPos, data.length, out, outPos, expected) as number;
    if (ret !== 0) throw new Error(`liblzma: ${LZMA_RET[ret] ?? `lzma_ret ${ret}`}${ret === 10 ? ' (truncated stream, or more output than the size trailer says)' : ''}`);
    if (Number(outPos[0]) !== expected) throw new Error(`liblzma: decoded ${Number(outPos[0])} bytes, the size trailer says ${expected}`);
    return out;
  };
}
