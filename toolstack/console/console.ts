// The console client: what xenconsole (tools/console/client/main.c, Xen 4.17) does for `xl console`.
// It finds the pty xenconsoled wrote to /local/domain/N/console/tty (or device/console/N/tty, serial/N/tty,
// vuart/0/tty), opens it raw, relays it to the caller's streams, and ends on Ctrl-] (0x1d), when the
// tty node disappears (the domain is gone) or when the caller aborts.
import { constants as fsc } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import tty from 'node:tty';
import { ConsoleError } from './errors.js';

/** The escape character that ends a console session: Ctrl-] (xenconsole's ESCAPE_CHARACTER). */
export const CONSOLE_ESCAPE = 0x1d;

/** Console kinds xenconsole's --type accepts. */
export type ConsoleType = 'pv' | 'serial' | 'vuart';

/** One xenstore watch as the console needs it (XsWatch of xenstore/client.ts fits). */
export interface ConsoleWatch extends AsyncIterable<{ path: string; token: string }> {
  close(): Promise<void>;
}

/** The xenstore operations the console client uses (a subset of XenstoreClient). */
export interface ConsoleStore {
  tryRead(path: string): Promise<string | undefined>;
  watch(path: string, token?: string): ConsoleWatch;
  getDomainPath?(domid: number): Promise<string>;
}

/** Where and how to attach. */
export interface OpenConsoleOptions {
  readonly store: ConsoleStore;
  readonly domid: number;
  /** Console number (xenconsole --num); default 0. */
  readonly num?: number;
  /** Console type; default 'pv' (txl's guests are PV). 'serial' falls back to pv when absent, as xenconsole does. */
  readonly type?: ConsoleType;
  /** How long to wait for xenconsoled to publish the tty (xenconsole: 5 s). */
  readonly waitMs?: number;
}

/** Streams a session relays between. */
export interface ConsoleIo {
  /** Keyboard input; read only when the session is interactive. */
  readonly input?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  /** Where guest output goes. */
  readonly output: NodeJS.WritableStream & { isTTY?: boolean };
  /**
   * Whether to read `input` (xenconsole: only when stdin and stdout are both terminals, or with
   * --interactive). Default: input.isTTY && output.isTTY.
   */
  readonly interactive?: boolean;
  /** Ends the session ('aborted'), e.g. on SIGTERM. */
  readonly signal?: AbortSignal;
}

/** Why a session ended. */
export type ConsoleEnd =
  /** The user typed Ctrl-]. */
  | 'escape'
  /** The tty node went away (domain destroyed, console torn down). */
  | 'gone'
  /** Interactive input reached end of file (xenconsole exits then too). */
  | 'input-closed'
  /** The caller's AbortSignal fired. */
  | 'aborted';

/** An open console: the pty is open (this is the point where xl create -c unpauses the domain). */
export interface ConsoleSession {
  /** The domain. */
  readonly domid: number;
  /** The xenstore node naming the tty. */
  readonly ttyNode: string;
  /** The tty path currently open (e.g. /dev/pts/3). */
  readonly ttyPath: string;
  /** Relays until the session ends; then releases the pty and the watch. Call once. */
  relay(io: ConsoleIo): Promise<ConsoleEnd>;
  /** Releases the pty and the watch without relaying (idempotent). */
  close(): Promise<void>;
  /**
   * Resolves once no console output has arrived for `quietMs` counted from this call or from the
   * last output, whichever is later, or after `maxMs`. `txl create -c` waits for this between the
   * guest's shutdown and destroying it, so the guest's last lines (still in the ring or in
   * xenconsoled) reach the user before the domain and its console go away.
   */
  settled(quietMs: number, maxMs: number): Promise<void>;
}

/**
 * The xenstore node that names the tty of console `num` of `type` (xenconsole's path choice), given
 * the domain's home path. For 'serial', `serialPresent` says whether the serial node exists.
 */
export function consoleTtyNode(domPath: string, type: ConsoleType, num: number, serialPresent = false): string {
  if (type === 'serial' && serialPresent) return `${domPath}/serial/${num}/tty`;
  if (type === 'vuart') return `${domPath}/vuart/0/tty`;
  return num === 0 ? `${domPath}/console/tty` : `${domPath}/device/console/${num}/tty`;
}

/** The pty, opened for reading through libuv (non-blocking) and for writing through a file handle. */
interface OpenPty {
  readonly path: string;
  readonly handle: FileHandle;
  readonly reader: tty.ReadStream;
}

async function openPty(path: string): Promise<OpenPty> {
  let handle: FileHandle;
  try {
    handle = await open(path, fsc.O_RDWR | fsc.O_NOCTTY);
  } catch (error) {
    throw new ConsoleError('TXL_CONSOLE_OPEN', `could not open tty '${path}': ${(error as Error).message}`, {
      cause: error, details: { path },
    });
  }
  let reader: tty.ReadStream;
  try {
    // libuv reopens a pty slave by name for its own non-blocking descriptor.
    reader = new tty.ReadStream(handle.fd);
    // init_term(): raw mode on the pty (xenconsoled made it raw already; a bootloader pty may not be).
    reader.setRawMode(true);
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw new ConsoleError('TXL_CONSOLE_OPEN', `'${path}' is not a terminal: ${(error as Error).message}`, { cause: error, details: { path } });
  }
  reader.pause();
  return { path, handle, reader };
}

async function closePty(pty: OpenPty | undefined): Promise<void> {
  if (!pty) return;
  pty.reader.removeAllListeners('data');
  pty.reader.on('error', () => undefined);
  pty.reader.destroy();
  await pty.handle.close().catch(() => undefined);
}

/** A queue over a watch's events, so that one reader can wait with a deadline. */
class WatchQueue {
  private readonly iterator: AsyncIterator<{ path: string; token: string }>;
  private pending: Promise<IteratorResult<{ path: string; token: string }>> | undefined;

  constructor(readonly watch: ConsoleWatch) {
    this.iterator = watch[Symbol.asyncIterator]();
  }

  /** The next event (true), the end of the watch (false), or undefined when `ms` passed first. */
  async next(ms: number | undefined): Promise<boolean | undefined> {
    this.pending ??= this.iterator.next();
    const p = this.pending;
    let timer: NodeJS.Timeout | undefined;
    const timeout = ms === undefined ? new Promise<never>(() => undefined) : new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(0, ms))));
    try {
      const r = await Promise.race([p, timeout]);
      if (r === 'timeout') return undefined;
      this.pending = undefined;
      return !r.done;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** Like next(), but also resolves (with 'other') when `other` settles. */
  async nextOr<T>(other: Promise<T>): Promise<boolean | { other: T }> {
    this.pending ??= this.iterator.next();
    const r = await Promise.race([this.pending, other.then((v) => ({ other: v }))]);
    if ('other' in r) return r;
    this.pending = undefined;
    return !r.done;
  }
}

/**
 * Opens console `num` of domain `domid`: waits (up to waitMs, default 5 s) for xenconsoled to write the
 * tty node, opens the pty and sets it raw. Resolves when the console is ready to relay: `txl create -c`
 * unpauses the domain at this point so that no early output is lost (xl's --start-notify-fd).
 */
export async function openConsole(opts: OpenConsoleOptions): Promise<ConsoleSession> {
  const { store, domid } = opts;
  const num = opts.num ?? 0;
  const waitMs = opts.waitMs ?? 5000;
  if (!Number.isInteger(domid) || domid < 0 || domid > 0x7fef) {
    throw new ConsoleError('TXL_CONSOLE_ARGS', `invalid domain id ${domid}`, { details: { domid } });
  }
  if (!Number.isInteger(num) || num < 0) {
    throw new ConsoleError('TXL_CONSOLE_ARGS', `invalid console number ${num}: expected 0 or more`, { details: { num } });
  }
  if (domid === 0) {
    throw new ConsoleError('TXL_CONSOLE_DOM0', "Can't specify Domain-0", { hint: 'Domain 0 has no console served by xenconsoled; attach to a guest.' });
  }
  if (typeof store.watch !== 'function') {
    throw new ConsoleError('TXL_CONSOLE_STORE', 'this xenstore connection cannot watch nodes, which the console needs', {
      hint: 'Run txl console in a Xen dom0 with xenstored (the simulator backend has no consoles).',
    });
  }
  const domPath = store.getDomainPath ? await store.getDomainPath(domid) : `/local/domain/${domid}`;
  const type = opts.type ?? 'pv';
  const serialPresent = type === 'serial' && (await store.tryRead(`${domPath}/serial/${num}/tty`)) !== undefined;
  const ttyNode = consoleTtyNode(domPath, type, num, serialPresent);

  const watch = store.watch(ttyNode, `txl-console-${process.pid}-${domid}-${num}`);
  const events = new WatchQueue(watch);
  let pty: OpenPty | undefined;
  let lastOpenError: unknown;
  const deadline = Date.now() + waitMs;
  try {
    // get_pty_fd(): each watch event (the first comes with the registration) rereads the node.
    while (!pty) {
      const got = await events.next(deadline - Date.now());
      if (got === undefined || got === false) break;
      const path = await store.tryRead(ttyNode);
      if (!path) continue;
      try {
        pty = await openPty(path);
      } catch (error) {
        lastOpenError = error;
        if (Date.now() >= deadline) break;
      }
    }
  } catch (error) {
    await watch.close().catch(() => undefined);
    throw error;
  }
  if (!pty) {
    await watch.close().catch(() => undefined);
    if (lastOpenError) throw lastOpenError;
    throw new ConsoleError('TXL_CONSOLE_NO_TTY', `Could not read tty from store: ${ttyNode} stayed empty for ${waitMs / 1000} s`, {
      details: { domid, node: ttyNode },
      hint: 'Is xenconsoled running, and does the domain have this console? (txl console -n N picks another one)',
    });
  }

  const firstPath = pty.path;
  let current: OpenPty | undefined = pty;
  let lastOutputAt = 0;
  const settled = async (quietMs: number, maxMs: number): Promise<void> => {
    const start = Date.now();
    for (;;) {
      const now = Date.now();
      const quietSince = Math.max(start, lastOutputAt);
      if (closed || now - quietSince >= quietMs || now - start >= maxMs) return;
      await new Promise((r) => setTimeout(r, Math.min(50, quietMs)));
    }
  };
  let closed = false;
  let relayed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await closePty(current);
    current = undefined;
    await watch.close().catch(() => undefined);
  };

  const relay = async (io: ConsoleIo): Promise<ConsoleEnd> => {
    if (relayed || closed) throw new ConsoleError('TXL_CONSOLE_ARGS', 'a console session relays once');
    relayed = true;
    const input = io.input;
    const interactive = io.interactive ?? Boolean(input?.isTTY && io.output.isTTY);
    let finish!: (end: ConsoleEnd) => void;
    const ended = new Promise<ConsoleEnd>((resolve) => (finish = resolve));
    let done = false;
    const end = (why: ConsoleEnd): void => {
      if (!done) {
        done = true;
        finish(why);
      }
    };
    let ptyLost: () => void = () => undefined;

    const attachPty = (p: OpenPty): void => {
      p.reader.on('data', (chunk: Buffer) => {
        lastOutputAt = Date.now();
        if (!done) io.output.write(chunk);
      });
      const lost = (): void => {
        if (current === p) ptyLost();
      };
      p.reader.on('error', lost);
      p.reader.on('end', lost);
      p.reader.resume();
    };

    // Keyboard -> pty, with the escape character.
    const onInput = (data: Buffer | string): void => {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      const esc = bytes.indexOf(CONSOLE_ESCAPE);
      const forward = esc === -1 ? bytes : bytes.subarray(0, esc);
      if (forward.length && current) {
        const target = current;
        target.handle.write(forward).catch(() => {
          // write_sync failed: drop this pty until the store names one again.
          if (current === target) ptyLost();
        });
      }
      if (esc !== -1) end('escape');
    };
    const onInputEnd = (): void => end('input-closed');
    let restoreRaw = false;
    if (interactive && input) {
      if (input.isTTY && typeof input.setRawMode === 'function') {
        input.setRawMode(true);
        restoreRaw = true;
      }
      input.on('data', onInput);
      input.on('end', onInputEnd);
      input.resume();
    }
    const onAbort = (): void => end('aborted');
    if (io.signal?.aborted) end('aborted');
    io.signal?.addEventListener('abort', onAbort);

    if (current) attachPty(current);
    // A pty read error (the master closed) drops the pty; the next watch event decides what follows.
    ptyLost = () => {
      const p = current;
      current = undefined;
      void closePty(p);
    };

    try {
      // console_loop(): the watch says when the tty changes or goes away.
      while (!done) {
        const r = await events.nextOr(ended);
        if (typeof r === 'object' || done) break;
        if (r === false) {
          end('gone');
          break;
        }
        const path = await store.tryRead(ttyNode).catch(() => undefined);
        if (!path) {
          end('gone');
          break;
        }
        if (current && current.path === path) continue;
        try {
          const next = await openPty(path);
          await closePty(current);
          current = next;
          if (!done) attachPty(next);
        } catch {
          end('gone');
        }
      }
      return await ended;
    } finally {
      io.signal?.removeEventListener('abort', onAbort);
      if (interactive && input) {
        input.off('data', onInput);
        input.off('end', onInputEnd);
        input.pause();
        if (restoreRaw) input.setRawMode?.(false);
      }
      await close();
    }
  };

  return {
    domid,
    ttyNode,
    get ttyPath() {
      return current?.path ?? firstPath;
    },
    relay,
    close,
    settled,
  };
}

/** openConsole + relay: `txl console` in one call. */
export async function attachConsole(opts: OpenConsoleOptions & ConsoleIo): Promise<ConsoleEnd> {
  const session = await openConsole(opts);
  return session.relay(opts);
}
