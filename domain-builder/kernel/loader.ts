// Kernel loaders as an explicit, ordered table: each has a pure probe and returns the vmlinux ELF inside.
//
// Order follows libxenguest (xg_dom_core.c xc_dom_kernel_file: whole-file gzip first; then
// xg_dom_bzimageloader.c, then xg_dom_elfloader.c), plus one entry that recognises arm64 Image
// files only to refuse them with a clear reason.
import { open, readFile, stat } from 'node:fs/promises';
import { DomainBuilderError } from '../errors.js';
import { isBzImage, locatePayload } from './bzimage.js';
import { decompressPayload, type Compression } from './decompress.js';
import { isElf, parseElf, type ElfImage } from './elf.js';

/** What a loader hands on: the ELF kernel and how it was wrapped. */
export interface LoadedElf {
  readonly format: 'elf' | 'bzImage' | 'gzip-elf' | 'gzip-bzImage';
  readonly compression: Compression | 'none';
  readonly elf: ElfImage;
}

/** One loader: a side-effect-free probe, then extraction of the ELF image. */
export interface KernelLoader {
  readonly name: string;
  readonly probe: (bytes: Uint8Array) => boolean;
  readonly load: (bytes: Uint8Array, source: string) => Promise<LoadedElf>;
}

/** arm64 Image header: "ARM\x64" at offset 0x38 (Documentation/arch/arm64/booting.rst). */
function isArm64Image(bytes: Uint8Array): boolean {
  return bytes.length >= 0x3c && bytes[0x38] === 0x41 && bytes[0x39] === 0x52 && bytes[0x3a] === 0x4d && bytes[0x3b] === 0x64;
}

/** Loads an inner (decompressed) image with the non-gzip loaders. */
async function loadInner(bytes: Uint8Array, source: string, depth: number): Promise<LoadedElf> {
  for (const loader of KERNEL_LOADERS) {
    if (loader.name === 'gzip' && depth > 0) continue;
    if (loader.probe(bytes)) return loader.load(bytes, source);
  }
  throw unrecognised(bytes, source);
}

function unrecognised(bytes: Uint8Array, source: string): DomainBuilderError {
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return new DomainBuilderError('TXL_KERNEL_UNRECOGNISED', `${source}: not a kernel image txl can load (tried: ${KERNEL_LOADERS.map((l) => l.name).join(', ')}; first bytes ${head})`, {
    details: { file: source },
    hint: 'a PV guest needs an x86_64 Linux kernel (vmlinuz bzImage or vmlinux ELF) built with CONFIG_XEN_PV',
  });
}

/** The loaders, probed in this order. */
export const KERNEL_LOADERS: readonly KernelLoader[] = [
  {
    name: 'gzip',
    probe: (b) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b,
    load: async (b, source) => {
      const { bytes } = await decompressPayload(b, source);
      const inner = await loadInner(bytes, source, 1);
      return { ...inner, format: inner.format === 'bzImage' ? 'gzip-bzImage' : 'gzip-elf', compression: inner.format === 'bzImage' ? inner.compression : 'gzip' };
    },
  },
  {
    name: 'bzImage',
    probe: isBzImage,
    load: async (b, source) => {
      const where = locatePayload(b, source);
      const payload = b.subarray(where.offset, where.offset + where.length);
      const { compression, bytes } = await decompressPayload(payload, source);
      if (!isElf(bytes)) {
        throw new DomainBuilderError('TXL_KERNEL_CORRUPT_PAYLOAD', `${source}: the ${compression} payload of this bzImage is not an ELF kernel`, { details: { file: source, compression } });
      }
      return { format: 'bzImage', compression, elf: parseElf(bytes, source) };
    },
  },
  {
    name: 'ELF',
    probe: isElf,
    load: async (b, source) => ({ format: 'elf', compression: 'none', elf: parseElf(b, source) }),
  },
  {
    name: 'arm64 Image',
    probe: isArm64Image,
    load: async (_b, source) => {
      throw new DomainBuilderError('TXL_KERNEL_WRONG_ARCH', `${source}: this is an arm64 image; Xen PV guests on this host need an x86_64 kernel`, { details: { file: source, machine: 'arm64' } });
    },
  },
];

/** Finds the loader for `bytes` and extracts the ELF kernel (no PV checks: see checkPvKernel). */
export async function loadKernelElf(bytes: Uint8Array, source: string): Promise<LoadedElf> {
  if (bytes.length === 0) {
    throw new DomainBuilderError('TXL_KERNEL_EMPTY', `${source}: the kernel file is empty`, { details: { file: source } });
  }
  return loadInner(bytes, source, 0);
}

/**
 * Bytes the builder copies into the guest without holding them in this process first: the initrd,
 * read straight into its guest pages (a 64 MiB initrd read into a Buffer first cost 2-7 s in a TCG
 * dom0, mostly faulting in fresh memory, before the same bytes were copied again).
 */
export interface ImageSource {
  /** Size in bytes. */
  readonly length: number;
  /** Fills `target` (exactly `length` bytes) with the contents. */
  readInto(target: Uint8Array): Promise<void>;
}

/** An ImageSource over bytes already in memory. */
export function bytesSource(bytes: Uint8Array): ImageSource {
  return { length: bytes.length, readInto: async (target) => target.set(bytes) };
}

/** Chunk of one read(2) into guest memory. */
const READ_CHUNK = 4 << 20;

/**
 * Checks an image file like readImageFile (exists, not a directory, readable) and returns a source that
 * reads it when the builder asks; a file whose size changed in between is an error, not a short guest.
 */
export async function openImageSource(path: string, what: 'kernel' | 'initrd'): Promise<ImageSource> {
  const code = readErrorCode(what);
  let length: number;
  try {
    const handle = await open(path, 'r');
    try {
      const info = await handle.stat();
      if (info.isDirectory()) throw isDirectoryError(what, path);
      length = info.size;
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof DomainBuilderError) throw error;
    // open(2) of a directory succeeds read-only on Linux; EISDIR shows up on read: same message either way.
    if ((error as NodeJS.ErrnoException).code === 'EISDIR') throw isDirectoryError(what, path);
    throw imageReadError(what, path, error);
  }
  return {
    length,
    readInto: async (target) => {
      if (target.length !== length) throw new RangeError(`readInto: target of ${target.length} bytes for a ${length}-byte ${what}`);
      let handle;
      try {
        handle = await open(path, 'r');
      } catch (error) {
        throw imageReadError(what, path, error);
      }
      try {
        // Through a bounce buffer: read(2) straight into a privcmd foreign mapping fails with EFAULT
        // where the filesystem pins the user pages (9p zero-copy: seen in the 4.17 lab dom0).
        const bounce = new Uint8Array(Math.min(READ_CHUNK, length));
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(bounce, 0, Math.min(bounce.length, length - done), done);
          if (bytesRead === 0) break;
          target.set(bounce.subarray(0, bytesRead), done);
          done += bytesRead;
        }
        const now = (await handle.stat()).size;
        if (done !== length || now !== length) {
          throw new DomainBuilderError(code, `${what} ${path} changed while the domain was built (${length} bytes when checked, ${now} now)`, { details: { file: path, expected: length, size: now } });
        }
      } catch (error) {
        if (error instanceof DomainBuilderError) throw error;
        throw imageReadError(what, path, error);
      } finally {
        await handle.close();
      }
    },
  };
}

/** The error code for a kernel or initrd file that cannot be read. */
function readErrorCode(what: 'kernel' | 'initrd'): 'TXL_KERNEL_READ' | 'TXL_INITRD_READ' {
  return what === 'kernel' ? 'TXL_KERNEL_READ' : 'TXL_INITRD_READ';
}

/** A kernel or initrd that cannot be opened, stat'ed or read: "no such file", else the errno. */
function imageReadError(what: 'kernel' | 'initrd', path: string, error: unknown): DomainBuilderError {
  const errno = (error as NodeJS.ErrnoException).code;
  return new DomainBuilderError(readErrorCode(what), errno === 'ENOENT' ? `${what} ${path}: no such file` : `${what} ${path}: cannot read (${errno ?? String(error)})`, {
    details: { file: path, errno: errno ?? null },
    cause: error,
  });
}

function isDirectoryError(what: 'kernel' | 'initrd', path: string): DomainBuilderError {
  return new DomainBuilderError(readErrorCode(what), `${what} ${path} is a directory, not a file`, { details: { file: path } });
}

/** Reads a kernel (or initrd) file with errors that say what is wrong with the path. */
export async function readImageFile(path: string, what: 'kernel' | 'initrd'): Promise<Uint8Array> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw imageReadError(what, path, error);
  }
  if (info.isDirectory()) throw isDirectoryError(what, path);
  try {
    return await readFile(path);
  } catch (error) {
    // Gone between stat and read: "no such file" too.
    throw imageReadError(what, path, error);
  }
}
