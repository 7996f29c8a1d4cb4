// /dev/xen/privcmd and /dev/xen/hypercall: hypercalls with every argument in hypercall-safe memory,
// MMAPBATCH_V2 foreign mappings and MMAP_RESOURCE (Linux include/uapi/xen/privcmd.h).
import { existsSync } from 'node:fs';
import { HypervisorError, errnoName } from '../errors.js';
import {
  IOCTL_PRIVCMD_HYPERCALL, IOCTL_PRIVCMD_MMAPBATCH_V2, IOCTL_PRIVCMD_MMAP_RESOURCE,
  privcmd_hypercall, privcmd_mmapbatch_v2, privcmd_mmap_resource,
} from '../abi/linux.js';
import { XEN_PAGE_SIZE } from '../abi/constants.js';
import {
  MADV_DONTFORK, MAP_ANONYMOUS, MAP_LOCKED, MAP_PRIVATE, MAP_SHARED, O_CLOEXEC, O_RDWR, PROT_READ, PROT_WRITE,
  type Ffi, type Sys,
} from './ffi.js';

/** A piece of hypercall-safe memory: its user address and a view of its bytes. */
export interface HcBuffer {
  readonly addr: bigint;
  readonly bytes: Uint8Array;
  readonly view: DataView;
}

/** Allocates hypercall buffers inside one synchronous scope. */
export type HcAlloc = (size: number) => HcBuffer;

interface Region {
  readonly addr: bigint;
  readonly length: number;
  readonly bytes: Uint8Array;
}

/** Default arena: 64 pages (256 KiB), enough for 2,000 getdomaininfo records or a readconsole chunk. */
const ARENA_PAGES = 64;

const pageRound = (n: number): number => Math.max(1, Math.ceil(n / XEN_PAGE_SIZE)) * XEN_PAGE_SIZE;

/**
 * Hypercall-safe memory. Xen reads and writes hypercall arguments through this process's virtual
 * addresses and cannot fault pages in, so every struct, array and buffer a hypercall touches must
 * live in pages that are resident and never move: pages mmap'ed from /dev/xen/hypercall (Linux
 * privcmd-buf, kernel >= 4.18), or as a fallback anonymous MAP_LOCKED pages excluded from fork
 * (tools/libs/call/linux.c does the same). V8-heap Buffers are never passed to Xen.
 */
export class HypercallMemory {
  private used = 0;
  private inScope = false;
  private readonly extra: Region[] = [];

  private constructor(
    private readonly ffi: Ffi,
    private readonly fd: number | undefined,
    private arena: Region,
  ) {}

  /** Maps the arena: /dev/xen/hypercall when present, else locked anonymous memory. */
  static open(ffi: Ffi): HypercallMemory {
    const fd = existsSync('/dev/xen/hypercall') ? ffi.open('/dev/xen/hypercall', O_RDWR | O_CLOEXEC) : undefined;
    const bufFd = fd?.ok ? fd.value : undefined;
    const mem = new HypercallMemory(ffi, bufFd, { addr: 0n, length: 0, bytes: new Uint8Array(0) });
    mem.arena = mem.mapRegion(ARENA_PAGES * XEN_PAGE_SIZE);
    return mem;
  }

  private mapRegion(size: number): Region {
    const length = pageRound(size);
    let mapped: Sys<bigint>;
    if (this.fd !== undefined) {
      mapped = this.ffi.mmap(length, PROT_READ | PROT_WRITE, MAP_SHARED, this.fd, 0);
    } else {
      mapped = this.ffi.mmap(length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
      if (mapped.ok) this.ffi.madvise(mapped.value, length, MADV_DONTFORK);
    }
    if (!mapped.ok) {
      throw new HypervisorError('TXL_HV_HYPERCALL', `cannot map ${length} bytes of hypercall buffer memory: ${errnoName(mapped.errno)}`, {
        errno: errnoName(mapped.errno), hint: 'Check RLIMIT_MEMLOCK (ulimit -l) and that the xen-privcmd module is loaded.',
      });
    }
    // FFI: the region stays mapped until close(); views are only handed out inside scope().
    const bytes = new Uint8Array(this.ffi.view(mapped.value, length));
    bytes.fill(0); // touch every page so a locked fallback mapping is resident
    return { addr: mapped.value, length, bytes };
  }

  /**
   * Runs `fn` with an allocator of zeroed hypercall buffers; everything it allocated is released
   * when it returns. `fn` must be synchronous: the buffers are reused by the next scope.
   */
  scope<T>(fn: (alloc: HcAlloc) => T): T {
    if (this.inScope) throw new Error('HypercallMemory.scope is not re-entrant');
    this.inScope = true;
    this.used = 0;
    try {
      const result = fn((size) => this.alloc(size));
      if (result instanceof Promise) throw new Error('HypercallMemory.scope callback must be synchronous');
      return result;
    } finally {
      this.inScope = false;
      for (const region of this.extra.splice(0)) this.ffi.munmap(region.addr, region.length);
    }
  }

  private alloc(size: number): HcBuffer {
    const start = Math.ceil(this.used / 64) * 64;
    let region: Region;
    let offset: number;
    if (start + size <= this.arena.length) {
      region = this.arena;
      offset = start;
      this.used = start + size;
    } else {
      region = this.mapRegion(size);
      this.extra.push(region);
      offset = 0;
    }
    const bytes = region.bytes.subarray(offset, offset + size);
    bytes.fill(0);
    return { addr: region.addr + BigInt(offset), bytes, view: new DataView(bytes.buffer, bytes.byteOffset, size) };
  }

  /** Unmaps the arena and closes /dev/xen/hypercall. */
  close(): void {
    if (this.arena.length) this.ffi.munmap(this.arena.addr, this.arena.length);
    if (this.fd !== undefined) this.ffi.close(this.fd);
  }
}

/** A foreign mapping made through privcmd (frames of another domain, or its grant table). */
export interface PrivcmdMapping {
  readonly addr: bigint;
  readonly bytes: Uint8Array;
  unmap(): void;
}

/** Failure of a privcmd ioctl: the errno, plus per-frame errors for MMAPBATCH_V2. */
export class PrivcmdError extends Error {
  constructor(readonly errno: number, readonly what: string, readonly frameErrors?: readonly number[]) {
    super(`${what}: ${errnoName(errno)}`);
  }
}

/**
 * The privcmd device node, checked before anything native is loaded. Throws TXL_HV_NO_XEN when there
 * is none: not a Xen dom0, or xen-privcmd not loaded.
 */
export function findPrivcmd(): string {
  const path = ['/dev/xen/privcmd', '/proc/xen/privcmd'].find((p) => existsSync(p));
  if (!path) {
    throw new HypervisorError('TXL_HV_NO_XEN', 'no /dev/xen/privcmd: this machine is not running as a Xen dom0', {
      errno: 'ENOENT',
      hint: 'Boot the host under the Xen hypervisor (Debian: xen-hypervisor-4.17-amd64, GRUB entry "Xen"), '
        + 'or load the xen-privcmd module (modprobe xen-privcmd) and mount xenfs on /proc/xen. '
        + 'To try txl without Xen, set TXL_BACKEND=simulator.',
    });
  }
  return path;
}

/** The privcmd device: open fd, hypercall memory, and the three ioctls txl needs. */
export class PrivcmdDevice {
  private constructor(
    readonly ffi: Ffi,
    private readonly fd: number,
    /** Hypercall-safe memory for arguments. */
    readonly memory: HypercallMemory,
  ) {}

  /**
   * Opens /dev/xen/privcmd (or /proc/xen/privcmd). Errors say what is wrong and what to do:
   * no device (not a Xen dom0, or xen-privcmd not loaded), permission denied (not root).
   */
  static open(ffi: Ffi, path = findPrivcmd()): PrivcmdDevice {
    const opened = ffi.open(path, O_RDWR | O_CLOEXEC);
    if (!opened.ok) {
      const name = errnoName(opened.errno);
      if (name === 'EACCES' || name === 'EPERM') {
        throw new HypervisorError('TXL_HV_EPERM', `permission denied opening ${path}: txl must run as root in dom0`, {
          errno: name, details: { path }, hint: 'Run it with sudo (sudo txl ...) or as root.',
        });
      }
      throw new HypervisorError('TXL_HV_NO_XEN', `cannot open ${path}: ${name}`, { errno: name, details: { path } });
    }
    try {
      return new PrivcmdDevice(ffi, opened.value, HypercallMemory.open(ffi));
    } catch (error) {
      ffi.close(opened.value);
      throw error;
    }
  }

  /**
   * IOCTL_PRIVCMD_HYPERCALL: `op` with up to five register arguments. Pointer arguments must be
   * addresses of HcBuffers from `memory.scope`. Returns Xen's (non-negative) return value.
   */
  hypercall(alloc: HcAlloc, op: number, args: readonly bigint[]): Sys<number> {
    const call = alloc(privcmd_hypercall.size);
    privcmd_hypercall.write(call.view, 0, { op: BigInt(op), arg: args });
    // FFI: `call` (and every address inside args) is hypercall-safe memory alive for this call.
    return this.ffi.ioctl(this.fd, IOCTL_PRIVCMD_HYPERCALL, call.addr);
  }

  /**
   * Maps machine frames of `domid` (PV: MFNs) contiguously with IOCTL_PRIVCMD_MMAPBATCH_V2.
   * Throws PrivcmdError with per-frame errnos if any frame fails.
   */
  mapForeign(domid: number, frames: readonly number[], writable = true): PrivcmdMapping {
    const length = frames.length * XEN_PAGE_SIZE;
    const prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
    const mapped = this.ffi.mmap(length, prot, MAP_SHARED, this.fd, 0);
    if (!mapped.ok) throw new PrivcmdError(mapped.errno, `mmap of ${frames.length} frames on privcmd`);
    const addr = mapped.value;
    try {
      this.memory.scope((alloc) => {
        const arr = alloc(frames.length * 8);
        const err = alloc(frames.length * 4);
        frames.forEach((f, i) => arr.view.setBigUint64(i * 8, BigInt(f), true));
        const req = alloc(privcmd_mmapbatch_v2.size);
        privcmd_mmapbatch_v2.write(req.view, 0, { num: frames.length, dom: domid, addr, arr: arr.addr, err: err.addr });
        // FFI: addr..addr+length is our fresh privcmd VMA; arr/err are owned buffers read/written by the kernel.
        const r = this.ffi.ioctl(this.fd, IOCTL_PRIVCMD_MMAPBATCH_V2, req.addr);
        // Linux reports per-frame failures in err[] and may still return 0 (only paged-out frames
        // make the ioctl itself fail, with ENOENT): check both, as libxenforeignmemory does.
        const frameErrors = frames.map((_f, i) => Math.abs(err.view.getInt32(i * 4, true)));
        const firstBad = frameErrors.find((e) => e !== 0);
        if (!r.ok || firstBad !== undefined) {
          throw new PrivcmdError(r.ok ? firstBad! : r.errno, `IOCTL_PRIVCMD_MMAPBATCH_V2 of ${frames.length} frames of domain ${domid}`, frameErrors);
        }
      });
    } catch (error) {
      this.ffi.munmap(addr, length);
      throw error;
    }
    return this.mapping(addr, length);
  }

  /** Maps `num` frames of a domain resource (type 1 = grant table) with IOCTL_PRIVCMD_MMAP_RESOURCE. */
  mapResource(domid: number, type: number, id: number, idx: number, num: number): PrivcmdMapping {
    const length = num * XEN_PAGE_SIZE;
    const mapped = this.ffi.mmap(length, PROT_READ | PROT_WRITE, MAP_SHARED, this.fd, 0);
    if (!mapped.ok) throw new PrivcmdError(mapped.errno, `mmap of ${num} resource frames on privcmd`);
    const addr = mapped.value;
    try {
      this.memory.scope((alloc) => {
        const req = alloc(privcmd_mmap_resource.size);
        privcmd_mmap_resource.write(req.view, 0, { dom: domid, type, id, idx, num: BigInt(num), addr });
        // FFI: addr is our fresh privcmd VMA of exactly num pages.
        const r = this.ffi.ioctl(this.fd, IOCTL_PRIVCMD_MMAP_RESOURCE, req.addr);
        if (!r.ok) throw new PrivcmdError(r.errno, `IOCTL_PRIVCMD_MMAP_RESOURCE type ${type} of domain ${domid}`);
      });
    } catch (error) {
      this.ffi.munmap(addr, length);
      throw error;
    }
    return this.mapping(addr, length);
  }

  private mapping(addr: bigint, length: number): PrivcmdMapping {
    let live = true;
    // FFI: the view is valid until unmap(); owners must not touch `bytes` afterwards.
    const bytes = new Uint8Array(this.ffi.view(addr, length));
    return {
      addr, bytes,
      unmap: () => {
        if (!live) return;
        live = false;
        this.ffi.munmap(addr, length);
      },
    };
  }

  /** Closes the device and its hypercall memory. */
  close(): void {
    this.memory.close();
    this.ffi.close(this.fd);
  }
}
