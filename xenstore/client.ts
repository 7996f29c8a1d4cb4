// The xenstore client: pipelined requests matched by req_id, typed operations, watches as async
// iterables, and transactions with an EAGAIN-retrying helper. Works over any XsTransport.
import { ERRNO_TEXT, isWireErrno, isXsErrno, XenstoreError, type XsErrno } from './errors.js';
import { checkPath } from './paths.js';
import { checkPermissions, formatPermission, parsePermission, type XsPermission } from './perms.js';
import {
  defaultDevicePath, defaultSocketPath, isCharDevice, openDeviceTransport, openSocketTransport, type XsTransport,
} from './transport.js';
import { encodeFrame, FrameDecoder, FrameError, joinStrings, PAYLOAD_MAX, splitStrings, typeName, XsType, type XsFrame } from './wire.js';

/** Options of XenstoreClient.connect. */
export interface ConnectOptions {
  /** Socket or device path (default: $XENSTORED_PATH, else /var/run/xenstored/socket, else /dev/xen/xenbus). */
  readonly path?: string;
  /** Force the unix socket or the xenbus device (default: the socket if it exists, else the device). */
  readonly transport?: 'socket' | 'xenbus';
  /** Per-request reply timeout in ms (default 30000); also the connect timeout. */
  readonly timeoutMs?: number;
}

/** Options of a client over an already open transport. */
export interface ClientOptions {
  /** Per-request reply timeout in ms (default 30000). 0 disables it. */
  readonly timeoutMs?: number;
}

/** One watch event: the path that changed (relative if the watch was relative) and the watch's token. */
export interface XsWatchEvent {
  readonly path: string;
  readonly token: string;
}

/** A registered watch: an async iterable of its events. Breaking out of `for await` unregisters it. */
export interface XsWatch extends AsyncIterable<XsWatchEvent> {
  readonly path: string;
  readonly token: string;
  /** Resolves once xenstored acknowledged the WATCH; rejects with its error (then iteration throws it too). */
  readonly ready: Promise<void>;
  /** Unregisters (UNWATCH) and ends the iteration. Idempotent. */
  close(): Promise<void>;
}

/** Result of one attempt of a raw request. */
export interface RawReply {
  readonly type: number;
  readonly payload: Buffer;
}

/** An open transaction. Pass it as the `tx` argument, or use its methods. */
export class XsTransaction {
  constructor(
    /** The id xenstored assigned (header tx_id). */
    readonly id: number,
    private readonly client: XenstoreClient,
  ) {}
  read(path: string): Promise<string> { return this.client.read(path, this); }
  readBytes(path: string): Promise<Buffer> { return this.client.readBytes(path, this); }
  tryRead(path: string): Promise<string | undefined> { return this.client.tryRead(path, this); }
  write(path: string, value: string | Uint8Array): Promise<void> { return this.client.write(path, value, this); }
  mkdir(path: string): Promise<void> { return this.client.mkdir(path, this); }
  rm(path: string): Promise<void> { return this.client.rm(path, this); }
  directory(path: string): Promise<string[]> { return this.client.directory(path, this); }
  getPermissions(path: string): Promise<XsPermission[]> { return this.client.getPermissions(path, this); }
  setPermissions(path: string, perms: readonly XsPermission[]): Promise<void> { return this.client.setPermissions(path, perms, this); }
}

interface Pending {
  readonly type: number;
  readonly path: string | undefined;
  readonly resolve: (frame: XsFrame) => void;
  readonly reject: (error: XenstoreError) => void;
  timer: NodeJS.Timeout | undefined;
}

const OK = 'OK';

/** A connection to xenstored (or to a MemoryXenstore). */
export class XenstoreClient {
  private readonly pending = new Map<number, Pending>();
  private readonly watches = new Map<string, Set<WatchImpl>>();
  private readonly decoder = new FrameDecoder();
  private nextReqId = 1;
  private closedError: XenstoreError | undefined;
  private readonly timeoutMs: number;
  /** Largest request payload the connection carries: 4096, or 4080 through /dev/xen/xenbus. */
  readonly maxPayload: number;
  /** Replies with no matching request (late replies after a timeout, or a confused server). */
  unmatchedReplies = 0;

  /** Opens the socket or device, as xs_open(0) does (socket first, then the device). */
  static async connect(opts: ConnectOptions = {}): Promise<XenstoreClient> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    let transport: XsTransport;
    if (opts.transport === 'xenbus') {
      transport = await openDeviceTransport(opts.path ?? defaultDevicePath());
    } else if (opts.transport === 'socket') {
      transport = await openSocketTransport(opts.path ?? defaultSocketPath(), timeoutMs || 30_000);
    } else {
      const path = opts.path ?? defaultSocketPath();
      if (isCharDevice(path)) transport = await openDeviceTransport(path);
      else {
        try {
          transport = await openSocketTransport(path, timeoutMs || 30_000);
        } catch (socketError) {
          if (opts.path !== undefined || process.env.XENSTORED_PATH) throw socketError;
          try {
            transport = await openDeviceTransport(defaultDevicePath());
          } catch {
            throw socketError;
          }
        }
      }
    }
    return new XenstoreClient(transport, { timeoutMs });
  }

  /**
   * A client of an in-memory server (MemoryXenstore): a privileged socket-like connection, or with
   * `domid` that domain's own connection (unprivileged unless dom0; the domain must be introduced).
   */
  static overMemory(store: { connect(opts?: { domid?: number }): XsTransport }, opts: ClientOptions & { domid?: number } = {}): XenstoreClient {
    const transport = store.connect(opts.domid === undefined ? {} : { domid: opts.domid });
    return new XenstoreClient(transport, opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs });
  }

  /** A client over an open transport (tests, MemoryXenstore). */
  static overTransport(transport: XsTransport, opts: ClientOptions = {}): XenstoreClient {
    return new XenstoreClient(transport, opts);
  }

  constructor(
    private readonly transport: XsTransport,
    opts: ClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxPayload = transport.maxPayload ?? PAYLOAD_MAX;
    transport.onData((chunk) => this.receive(chunk));
    transport.onClose((error) => this.shutdown(new XenstoreError('ECONNRESET', `connection to xenstored (${transport.endpoint}) was lost${error ? `: ${error.message}` : ''}`, { code: 'TXL_XS_CLOSED', cause: error })));
  }

  /** The endpoint this client talks to. */
  get endpoint(): string {
    return this.transport.endpoint;
  }

  /** True once the connection is closed or lost. */
  get closed(): boolean {
    return this.closedError !== undefined;
  }

  // ---- raw requests -------------------------------------------------------------------------

  /**
   * Sends one request and resolves with the reply payload. Rejects with XenstoreError: the errno
   * xenstored sent, E2BIG (TXL_XS_LIMIT) for a payload over 4096 bytes (never sent: xenstored would
   * drop the connection), ETIMEDOUT, ECONNRESET, EPROTO. No path validation: see the typed methods.
   */
  async request(type: number, payload: Buffer, txId = 0, path?: string): Promise<Buffer> {
    const frame = await this.requestFrame(type, payload, txId, path);
    return frame.payload;
  }

  private requestFrame(type: number, payload: Buffer, txId: number, path: string | undefined): Promise<XsFrame> {
    const operation = typeName(type);
    if (this.closedError) return Promise.reject(this.closedError);
    if (payload.length > this.maxPayload) {
      return Promise.reject(new XenstoreError('E2BIG', `${operation}${path ? ` ${path}` : ''}: payload of ${payload.length} bytes exceeds the limit of ${this.transport.endpoint} (${this.maxPayload}); not sent`, { code: 'TXL_XS_LIMIT', operation, ...(path !== undefined ? { path } : {}) }));
    }
    const reqId = this.allocReqId();
    return new Promise<XsFrame>((resolve, reject) => {
      const entry: Pending = { type, path, resolve, reject, timer: undefined };
      if (this.timeoutMs > 0) {
        entry.timer = setTimeout(() => {
          this.pending.delete(reqId);
          this.transport.abandon?.(reqId);
          this.updateExpecting();
          reject(new XenstoreError('ETIMEDOUT', `${operation}${path ? ` ${path}` : ''}: no reply from xenstored within ${this.timeoutMs} ms`, { code: 'TXL_XS_TIMEOUT', operation, ...(path !== undefined ? { path } : {}) }));
        }, this.timeoutMs);
      }
      this.pending.set(reqId, entry);
      this.updateExpecting();
      this.transport.write(encodeFrame({ type, reqId, txId, payload }));
    });
  }

  private allocReqId(): number {
    for (;;) {
      const id = this.nextReqId;
      this.nextReqId = (this.nextReqId + 1) >>> 0 || 1;
      if (!this.pending.has(id)) return id;
    }
  }

  private updateExpecting(): void {
    this.transport.setExpecting?.(this.pending.size > 0 || this.watches.size > 0);
  }

  private receive(chunk: Buffer): void {
    let frames: XsFrame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      const message = error instanceof FrameError ? error.message : String(error);
      this.shutdown(new XenstoreError('EPROTO', `malformed data from xenstored (${this.transport.endpoint}): ${message}`, { code: 'TXL_XS_PROTOCOL', cause: error }));
      this.transport.close();
      return;
    }
    for (const frame of frames) this.dispatch(frame);
  }

  private dispatch(frame: XsFrame): void {
    if (frame.type === XsType.WATCH_EVENT) {
      this.deliverEvent(frame.payload);
      return;
    }
    const entry = this.pending.get(frame.reqId);
    if (!entry) {
      this.unmatchedReplies++;
      return;
    }
    this.pending.delete(frame.reqId);
    if (entry.timer) clearTimeout(entry.timer);
    this.updateExpecting();
    const operation = typeName(entry.type);
    const where = `${operation}${entry.path !== undefined ? ` ${entry.path}` : ''}`;
    const meta = { operation, ...(entry.path !== undefined ? { path: entry.path } : {}) };
    if (frame.type === XsType.ERROR) {
      const strings = splitStrings(frame.payload);
      const name = strings[0];
      if (strings.length !== 1 || name === undefined || frame.payload[frame.payload.length - 1] !== 0) {
        entry.reject(new XenstoreError('EPROTO', `${where}: malformed XS_ERROR payload ${JSON.stringify(frame.payload.toString('latin1'))}`, { code: 'TXL_XS_PROTOCOL', ...meta }));
        return;
      }
      // xs.c get_error(): an unknown name means EINVAL.
      const errno: XsErrno = isWireErrno(name) ? name : 'EINVAL';
      entry.reject(new XenstoreError(errno, `xenstore ${where}: ${errno} (${ERRNO_TEXT[errno]})`, meta));
      return;
    }
    if (frame.type !== entry.type) {
      entry.reject(new XenstoreError('EPROTO', `${where}: reply has type ${typeName(frame.type)}, expected ${operation} or ERROR`, { code: 'TXL_XS_PROTOCOL', ...meta }));
      return;
    }
    entry.resolve(frame);
  }

  private readonly eventTaps = new Set<(event: XsWatchEvent) => void>();

  /**
   * Calls `listener` with every watch event of this connection, in arrival order, before the events
   * are routed to their watches. Returns the function that removes the listener.
   */
  tapEvents(listener: (event: XsWatchEvent) => void): () => void {
    this.eventTaps.add(listener);
    return () => void this.eventTaps.delete(listener);
  }

  private deliverEvent(payload: Buffer): void {
    const strings = splitStrings(payload);
    if (strings.length < 2) return; // malformed event: nothing to route it by
    const [path, token] = strings as [string, string];
    for (const tap of this.eventTaps) tap({ path, token });
    const subs = this.watches.get(token);
    if (!subs || subs.size === 0) return;
    const matching = [...subs].filter((w) => w.matches(path));
    for (const w of matching.length ? matching : subs) w.push({ path, token });
  }

  private readonly closeListeners = new Set<(error: XenstoreError) => void>();

  /** Calls `listener` once when the connection closes or is lost (at once if it already is). */
  onClose(listener: (error: XenstoreError) => void): void {
    if (this.closedError) listener(this.closedError);
    else this.closeListeners.add(listener);
  }

  private shutdown(error: XenstoreError): void {
    if (this.closedError) return;
    this.closedError = error;
    for (const listener of this.closeListeners) listener(error);
    this.closeListeners.clear();
    for (const [, entry] of this.pending) {
      if (entry.timer) clearTimeout(entry.timer);
      entry.reject(error);
    }
    this.pending.clear();
    for (const subs of this.watches.values()) for (const w of subs) w.fail(error);
    this.watches.clear();
    this.updateExpecting();
  }

  /** Closes the connection. Pending requests reject with ECONNRESET; watch iterations end. */
  async close(): Promise<void> {
    if (this.closedError) return;
    const watches = [...this.watches.values()].flatMap((s) => [...s]);
    this.watches.clear();
    for (const w of watches) w.end();
    this.shutdown(new XenstoreError('ECONNRESET', `xenstore connection (${this.transport.endpoint}) was closed by this client`, { code: 'TXL_XS_CLOSED' }));
    this.transport.close();
  }

  // ---- typed operations ---------------------------------------------------------------------

  private async ok(type: number, payload: Buffer, tx: XsTransaction | undefined, path: string | undefined): Promise<void> {
    const reply = await this.request(type, payload, tx?.id ?? 0, path);
    if (reply.toString('latin1') !== `${OK}\0`) {
      throw new XenstoreError('EPROTO', `${typeName(type)}${path ? ` ${path}` : ''}: expected "OK" in the reply, got ${JSON.stringify(reply.toString('latin1'))}`, { code: 'TXL_XS_PROTOCOL', operation: typeName(type), ...(path !== undefined ? { path } : {}) });
    }
  }

  /** The value of `path` as bytes (XS_READ). */
  async readBytes(path: string, tx?: XsTransaction): Promise<Buffer> {
    checkPath(path, 'READ');
    return this.request(XsType.READ, joinStrings([path]), tx?.id ?? 0, path);
  }

  /** The value of `path` as UTF-8 text (XS_READ). */
  async read(path: string, tx?: XsTransaction): Promise<string> {
    return (await this.readBytes(path, tx)).toString('utf8');
  }

  /** The value, or undefined if the node does not exist (ENOENT). */
  async tryRead(path: string, tx?: XsTransaction): Promise<string | undefined> {
    try {
      return await this.read(path, tx);
    } catch (error) {
      if (isXsErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
  }

  /** True if `path` can be read (what xenstore-exists tests). */
  async exists(path: string, tx?: XsTransaction): Promise<boolean> {
    return (await this.tryRead(path, tx)) !== undefined;
  }

  /** Writes `value` (XS_WRITE), creating the node and missing parents. */
  async write(path: string, value: string | Uint8Array, tx?: XsTransaction): Promise<void> {
    checkPath(path, 'WRITE');
    const head = Buffer.from(`${path}\0`, 'utf8');
    const body = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return this.ok(XsType.WRITE, Buffer.concat([head, body]), tx, path);
  }

  /** Creates the node (and parents) if missing (XS_MKDIR). */
  async mkdir(path: string, tx?: XsTransaction): Promise<void> {
    checkPath(path, 'MKDIR');
    return this.ok(XsType.MKDIR, joinStrings([path]), tx, path);
  }

  /** Removes the node and everything below it (XS_RM); fine if it is already gone but its parent exists. */
  async rm(path: string, tx?: XsTransaction): Promise<void> {
    checkPath(path, 'RM');
    return this.ok(XsType.RM, joinStrings([path]), tx, path);
  }

  /** Child names of `path` (XS_DIRECTORY, falling back to XS_DIRECTORY_PART on E2BIG). */
  async directory(path: string, tx?: XsTransaction): Promise<string[]> {
    checkPath(path, 'DIRECTORY');
    try {
      return splitStrings(await this.request(XsType.DIRECTORY, joinStrings([path]), tx?.id ?? 0, path));
    } catch (error) {
      if (!isXsErrno(error, 'E2BIG') || error.code === 'TXL_XS_LIMIT') throw error;
    }
    return this.directoryByParts(path, tx);
  }

  /**
   * Child names via XS_DIRECTORY_PART chunks, restarting when the node's generation changes
   * between chunks (as xs_directory_part in tools/libs/store/xs.c).
   */
  async directoryByParts(path: string, tx?: XsTransaction): Promise<string[]> {
    checkPath(path, 'DIRECTORY_PART');
    for (let restarts = 0; restarts < 100; restarts++) {
      let gen: string | undefined;
      const bytes: Buffer[] = [];
      let offset = 0;
      let restart = false;
      for (;;) {
        const reply = await this.request(XsType.DIRECTORY_PART, joinStrings([path, String(offset)]), tx?.id ?? 0, path);
        const nul = reply.indexOf(0);
        if (nul < 0) throw new XenstoreError('EPROTO', `DIRECTORY_PART ${path}: reply without a generation string`, { code: 'TXL_XS_PROTOCOL', operation: 'DIRECTORY_PART', path });
        const thisGen = reply.toString('latin1', 0, nul);
        if (gen === undefined) gen = thisGen;
        else if (gen !== thisGen) { restart = true; break; }
        const chunk = reply.subarray(nul + 1);
        bytes.push(chunk);
        offset += chunk.length;
        // The last chunk ends with an extra NUL (an empty string); an empty list is just "\0".
        if (chunk.length <= 1 || (chunk.length >= 2 && chunk[chunk.length - 2] === 0)) break;
      }
      if (restart) continue;
      const all = Buffer.concat(bytes);
      const list = all.length <= 1 ? Buffer.alloc(0) : all.subarray(0, all.length - 1);
      return splitStrings(list);
    }
    throw new XenstoreError('EAGAIN', `DIRECTORY_PART ${path}: the directory kept changing while it was read`, { operation: 'DIRECTORY_PART', path });
  }

  /** Permissions of `path` (XS_GET_PERMS): the owner entry first. */
  async getPermissions(path: string, tx?: XsTransaction): Promise<XsPermission[]> {
    checkPath(path, 'GET_PERMS', { special: true });
    const reply = await this.request(XsType.GET_PERMS, joinStrings([path]), tx?.id ?? 0, path);
    try {
      return splitStrings(reply).map(parsePermission);
    } catch (error) {
      throw new XenstoreError('EPROTO', `GET_PERMS ${path}: malformed permissions ${JSON.stringify(reply.toString('latin1'))}`, { code: 'TXL_XS_PROTOCOL', operation: 'GET_PERMS', path, cause: error });
    }
  }

  /** Sets the permissions of `path` (XS_SET_PERMS); also accepts @introduceDomain/@releaseDomain. */
  async setPermissions(path: string, perms: readonly XsPermission[], tx?: XsTransaction): Promise<void> {
    checkPath(path, 'SET_PERMS', { special: true });
    checkPermissions(perms);
    return this.ok(XsType.SET_PERMS, joinStrings([path, ...perms.map(formatPermission)]), tx, path);
  }

  /**
   * Registers a watch on `path` (or @introduceDomain/@releaseDomain) and returns its events as an
   * async iterable. xenstored sends one event right after registration. Events are routed by token:
   * give each watch of a connection its own token (default: a generated one).
   */
  watch(path: string, token?: string): XsWatch {
    const tok = token ?? `txl-${this.allocReqId()}-${Math.random().toString(36).slice(2, 8)}`;
    const watch = new WatchImpl(this, path, tok);
    try {
      checkPath(path, 'WATCH', { special: true });
      if (!/^[^\0]*$/.test(tok)) throw new XenstoreError('EINVAL', 'watch token must not contain NUL', { code: 'TXL_XS_LIMIT', operation: 'WATCH', path });
    } catch (error) {
      watch.start(Promise.reject(error));
      return watch;
    }
    let subs = this.watches.get(tok);
    if (!subs) this.watches.set(tok, (subs = new Set()));
    subs.add(watch);
    this.updateExpecting();
    watch.start(this.ok(XsType.WATCH, joinStrings([path, tok]), undefined, path));
    return watch;
  }

  /** @internal called by a watch when it stops. */
  detachWatch(watch: WatchImpl, unwatch: boolean): Promise<void> {
    const subs = this.watches.get(watch.token);
    subs?.delete(watch);
    if (subs && subs.size === 0) this.watches.delete(watch.token);
    this.updateExpecting();
    if (!unwatch || this.closedError) return Promise.resolve();
    return this.unwatch(watch.path, watch.token).catch((error: unknown) => {
      if (isXsErrno(error, 'ENOENT') || (error instanceof XenstoreError && error.code === 'TXL_XS_CLOSED')) return;
      throw error;
    });
  }

  /** XS_UNWATCH for a (path, token) pair. Prefer `XsWatch.close()`. */
  async unwatch(path: string, token: string): Promise<void> {
    checkPath(path, 'UNWATCH', { special: true });
    return this.ok(XsType.UNWATCH, joinStrings([path, token]), undefined, path);
  }

  /** Starts a transaction (XS_TRANSACTION_START). */
  async transactionStart(): Promise<XsTransaction> {
    const reply = await this.request(XsType.TRANSACTION_START, joinStrings(['']), 0);
    const text = splitStrings(reply)[0] ?? '';
    if (!/^\d+$/.test(text) || Number(text) === 0 || Number(text) > 0xffffffff) {
      throw new XenstoreError('EPROTO', `TRANSACTION_START: reply ${JSON.stringify(reply.toString('latin1'))} is not a transaction id`, { code: 'TXL_XS_PROTOCOL', operation: 'TRANSACTION_START' });
    }
    return new XsTransaction(Number(text), this);
  }

  /** Commits (true) or aborts (false) a transaction. A commit conflict rejects with errno EAGAIN. */
  async transactionEnd(tx: XsTransaction, commit: boolean): Promise<void> {
    return this.ok(XsType.TRANSACTION_END, joinStrings([commit ? 'T' : 'F']), tx, undefined);
  }

  /**
   * Runs `fn` in a transaction and commits it; on EAGAIN (a conflict) runs it again, up to
   * `maxAttempts` times. If `fn` throws, the transaction is aborted and the error rethrown.
   */
  async transaction<T>(fn: (tx: XsTransaction) => Promise<T>, opts: { maxAttempts?: number } = {}): Promise<T> {
    const maxAttempts = opts.maxAttempts ?? 32;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const tx = await this.transactionStart();
      let result: T;
      try {
        result = await fn(tx);
      } catch (error) {
        await this.transactionEnd(tx, false).catch(() => undefined);
        throw error;
      }
      try {
        await this.transactionEnd(tx, true);
        return result;
      } catch (error) {
        if (!isXsErrno(error, 'EAGAIN')) throw error;
        // Back off a little so competing writers do not collide forever.
        if (attempt > 2) await new Promise((r) => setTimeout(r, Math.floor(Math.random() * attempt * 2)));
      }
    }
    throw new XenstoreError('EAGAIN', `transaction still conflicted after ${maxAttempts} attempts`, { code: 'TXL_XS_TX_RETRIES', details: { attempts: maxAttempts } });
  }

  /** XS_INTRODUCE: hands a new domain's store ring (mfn, event channel) to xenstored. */
  async introduceDomain(domid: number, mfn: bigint, evtchn: number): Promise<void> {
    checkUint(domid, 'domid');
    checkUint(evtchn, 'evtchn');
    if (mfn < 0n) throw new XenstoreError('EINVAL', `INTRODUCE: mfn ${mfn} is negative`, { code: 'TXL_XS_LIMIT', operation: 'INTRODUCE' });
    return this.ok(XsType.INTRODUCE, joinStrings([String(domid), mfn.toString(), String(evtchn)]), undefined, undefined);
  }

  /** XS_RELEASE: xenstored forgets the domain (fires @releaseDomain). */
  async releaseDomain(domid: number): Promise<void> {
    checkUint(domid, 'domid');
    return this.ok(XsType.RELEASE, joinStrings([String(domid)]), undefined, undefined);
  }

  /** XS_RESUME: clears the domain's shutdown flag. */
  async resumeDomain(domid: number): Promise<void> {
    checkUint(domid, 'domid');
    return this.ok(XsType.RESUME, joinStrings([String(domid)]), undefined, undefined);
  }

  /** XS_IS_DOMAIN_INTRODUCED. */
  async isDomainIntroduced(domid: number): Promise<boolean> {
    checkUint(domid, 'domid');
    const reply = splitStrings(await this.request(XsType.IS_DOMAIN_INTRODUCED, joinStrings([String(domid)]), 0))[0];
    if (reply !== 'T' && reply !== 'F') throw new XenstoreError('EPROTO', `IS_DOMAIN_INTRODUCED: reply ${JSON.stringify(reply)} is neither T nor F`, { code: 'TXL_XS_PROTOCOL', operation: 'IS_DOMAIN_INTRODUCED' });
    return reply === 'T';
  }

  /** XS_SET_TARGET: lets `domid` act on `target`'s nodes (device-model stub domains). */
  async setTarget(domid: number, target: number): Promise<void> {
    checkUint(domid, 'domid');
    checkUint(target, 'target');
    return this.ok(XsType.SET_TARGET, joinStrings([String(domid), String(target)]), undefined, undefined);
  }

  /** XS_GET_DOMAIN_PATH: "/local/domain/<domid>". */
  async getDomainPath(domid: number): Promise<string> {
    checkUint(domid, 'domid');
    const path = splitStrings(await this.request(XsType.GET_DOMAIN_PATH, joinStrings([String(domid)]), 0))[0];
    if (path === undefined) throw new XenstoreError('EPROTO', 'GET_DOMAIN_PATH: empty reply', { code: 'TXL_XS_PROTOCOL', operation: 'GET_DOMAIN_PATH' });
    return path;
  }

  /** XS_RESET_WATCHES: drops every watch and transaction of this connection. */
  async resetWatches(): Promise<void> {
    await this.ok(XsType.RESET_WATCHES, joinStrings(['']), undefined, undefined);
    const watches = [...this.watches.values()].flatMap((s) => [...s]);
    this.watches.clear();
    for (const w of watches) w.end();
    this.updateExpecting();
  }

  /** XS_CONTROL (XS_DEBUG): `cmd` with arguments; returns the reply text without its final NUL. */
  async control(cmd: string, ...args: string[]): Promise<string> {
    const reply = await this.request(XsType.CONTROL, joinStrings([cmd, ...args]), 0);
    return reply.toString('utf8').replace(/\0$/, '');
  }
}

function checkUint(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new XenstoreError('EINVAL', `invalid ${what} ${value}: expected an integer 0..2^32-1`, { code: 'TXL_XS_LIMIT' });
  }
}

/** A watch's event queue and async iterator. */
class WatchImpl implements XsWatch {
  private queue: XsWatchEvent[] = [];
  private waiters: { resolve: (r: IteratorResult<XsWatchEvent>) => void; reject: (e: unknown) => void }[] = [];
  private error: unknown;
  private done = false;
  private closing: Promise<void> | undefined;
  ready: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: XenstoreClient,
    readonly path: string,
    readonly token: string,
  ) {}

  start(registration: Promise<void>): void {
    this.ready = registration.catch((error: unknown) => {
      this.fail(error);
      void this.client.detachWatch(this, false);
      throw error;
    });
    // The failure is reported through iteration; `ready` is for callers that want to await it.
    this.ready.catch(() => undefined);
  }

  matches(eventPath: string): boolean {
    const p = this.path;
    if (p === '/' || eventPath === p) return true;
    return eventPath.startsWith(`${p}/`);
  }

  push(event: XsWatchEvent): void {
    if (this.done) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve({ value: event, done: false });
    else this.queue.push(event);
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.error = error;
    this.done = true;
    for (const w of this.waiters.splice(0)) w.reject(error);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }

  close(): Promise<void> {
    if (!this.closing) {
      const wasDone = this.done;
      this.end();
      this.closing = wasDone && this.error !== undefined ? Promise.resolve() : this.client.detachWatch(this, true);
    }
    return this.closing;
  }

  [Symbol.asyncIterator](): AsyncIterator<XsWatchEvent> {
    return {
      next: () => {
        const event = this.queue.shift();
        if (event) return Promise.resolve({ value: event, done: false });
        if (this.error !== undefined) return Promise.reject(this.error);
        if (this.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
      },
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }
}

export type { WatchImpl };
