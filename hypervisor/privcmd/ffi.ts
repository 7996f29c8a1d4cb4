// The one file of hypervisor/ that imports koffi: libc open/close/ioctl/mmap/munmap/madvise/read/write and fd polling.
//
// Everything above this file deals in fds, request numbers and addresses (bigint); the only other
// koffi user in txl is domain-builder/kernel/native.ts (libzstd/liblzma decoders, no pointers kept).
// Every call returns the raw result plus errno; callers turn errno into typed errors. `// FFI:`
// comments state the invariant each hand-off relies on.
import { HypervisorError } from '../errors.js';

/** Result of a libc call that may fail: `ok` false means errno is set. */
export type Sys<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errno: number };

/** Readiness events from the event loop's poller. */
export interface PollEvents {
  readonly readable: boolean;
  readonly disconnect: boolean;
}

/** An fd watched by libuv (no thread): stop() pauses, close() releases it. */
export interface FdPoller {
  stop(): void;
  close(): void;
  unref(): void;
  ref(): void;
}

/** The native operations the privcmd backend needs. */
export interface Ffi {
  open(path: string, flags: number): Sys<number>;
  close(fd: number): void;
  /** ioctl(fd, request, (void *)arg): arg is a user address (bigint) or 0n. */
  ioctl(fd: number, request: number, arg: bigint): Sys<number>;
  mmap(length: number, prot: number, flags: number, fd: number, offset: number): Sys<bigint>;
  munmap(addr: bigint, length: number): Sys<number>;
  madvise(addr: bigint, length: number, advice: number): Sys<number>;
  read(fd: number, addr: bigint, length: number): Sys<number>;
  write(fd: number, addr: bigint, length: number): Sys<number>;
  /**
   * A zero-copy ArrayBuffer over [addr, addr+length).
   * FFI: the caller guarantees the range stays mapped for as long as the buffer (or any view of
   * it) is used: after munmap, touching it faults the process. Owners drop their views on unmap.
   */
  view(addr: bigint, length: number): ArrayBuffer;
  /** Watches `fd` for readability on the Node event loop (koffi.node.poll: libuv, no thread). */
  pollReadable(fd: number, onEvent: (ev: PollEvents) => void): FdPoller;
}

/** open(2) flags and mmap(2)/madvise(2) constants for x86_64 Linux (asm-generic/fcntl.h, mman-common.h). */
export const O_RDWR = 0o2;
export const O_CLOEXEC = 0o2000000;
export const O_NONBLOCK = 0o4000;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_LOCKED = 0x2000;
export const MADV_DONTFORK = 10;
const MAP_FAILED = 0xffffffffffffffffn;

let loaded: Promise<Ffi> | undefined;

/** Loads koffi and libc once. Throws TXL_HV_FFI when koffi's native module is unavailable. */
export function loadFfi(): Promise<Ffi> {
  loaded ??= buildFfi();
  return loaded;
}

async function buildFfi(): Promise<Ffi> {
  let koffi: typeof import('koffi').default;
  try {
    koffi = (await import('koffi')).default;
  } catch (cause) {
    throw new HypervisorError('TXL_HV_FFI', 'cannot load koffi, the FFI module txl uses to reach /dev/xen/privcmd', {
      cause, hint: "Reinstall txl's dependencies with optional packages (npm ci, not --omit=optional).",
    });
  }
  const libc = koffi.load('libc.so.6');
  // FFI: prototypes match glibc's x86_64 declarations; pointers are passed and returned as bigint
  // addresses (koffi 3), so no JS object is ever handed to the kernel as a pointer.
  const c = {
    open: libc.func('int open(const char *path, int flags, int mode)'),
    close: libc.func('int close(int fd)'),
    ioctl: libc.func('int ioctl(int fd, unsigned long request, void *arg)'),
    mmap: libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)'),
    munmap: libc.func('int munmap(void *addr, size_t length)'),
    madvise: libc.func('int madvise(void *addr, size_t length, int advice)'),
    read: libc.func('intptr_t read(int fd, void *buf, size_t count)'),
    write: libc.func('intptr_t write(int fd, const void *buf, size_t count)'),
  };
  // koffi reads errno right after the call on the same thread, before any other libc call.
  const result = (ret: number | bigint): Sys<number> =>
    Number(ret) < 0 ? { ok: false, errno: koffi.errno() } : { ok: true, value: Number(ret) };
  const ptr = (addr: bigint): bigint | null => (addr === 0n ? null : addr);
  return {
    open: (path, flags) => result(c.open(path, flags, 0) as number),
    close: (fd) => void c.close(fd),
    // FFI: `arg` points at memory this process owns for the duration of the call (a hypercall
    // buffer or an mmap); the kernel copies in/out synchronously before ioctl returns.
    ioctl: (fd, request, arg) => result(c.ioctl(fd, request, ptr(arg)) as number),
    mmap: (length, prot, flags, fd, offset) => {
      const p = c.mmap(null, length, prot, flags, fd, offset) as bigint | null;
      const addr = p === null ? 0n : BigInt(koffi.address(p));
      return addr === MAP_FAILED || addr === 0n ? { ok: false, errno: koffi.errno() } : { ok: true, value: addr };
    },
    // FFI: callers unmap only ranges they mapped, once, and drop every view of them first.
    munmap: (addr, length) => result(c.munmap(ptr(addr), length) as number),
    madvise: (addr, length, advice) => result(c.madvise(ptr(addr), length, advice) as number),
    // FFI: [addr, addr+length) is mapped, writable memory owned by the caller.
    read: (fd, addr, length) => result(c.read(fd, ptr(addr), length) as number | bigint),
    write: (fd, addr, length) => result(c.write(fd, ptr(addr), length) as number | bigint),
    view: (addr, length) => koffi.view(addr, length),
    // FFI: the fd stays open until the poller is closed; the callback runs on the JS thread.
    pollReadable: (fd, onEvent) => {
      const handle = koffi.node.poll(fd, { readable: true, disconnect: true }, (ev) =>
        onEvent({ readable: ev.readable, disconnect: ev.disconnect }));
      return { stop: () => handle.stop(), close: () => handle.close(), unref: () => handle.unref(), ref: () => handle.ref() };
    },
  };
}
