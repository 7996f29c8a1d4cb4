// Byte transports to xenstored: the unix socket and the /dev/xen/xenbus device.
import { constants as fsConstants, promises as fsp, statSync, existsSync } from 'node:fs';
import net from 'node:net';
import { isWireErrno, XenstoreError } from './errors.js';
import { encodeFrame, FrameDecoder, HEADER_SIZE, PAYLOAD_MAX, XsType } from './wire.js';

/** A connection that carries whole frames out and arbitrary chunks of bytes in. */
export interface XsTransport {
  /** Human-readable endpoint ("/var/run/xenstored/socket", "memory:dom0"). */
  readonly endpoint: string;
  /** Largest payload this transport can carry (default XENSTORE_PAYLOAD_MAX, 4096). */
  readonly maxPayload?: number;
  /** Sends one complete frame (header + payload). */
  write(frame: Buffer): void;
  /** Registers the receiver of incoming bytes (called once, before any write). */
  onData(receiver: (chunk: Buffer) => void): void;
  /** Registers the callback for the end of the connection (error undefined on a clean close). */
  onClose(receiver: (error?: Error) => void): void;
  /**
   * The client tells the transport whether replies or events are expected; the device transport
   * polls only then, so an idle connection costs nothing and never keeps the process alive.
   */
  setExpecting?(expecting: boolean): void;
  /**
   * The client stopped waiting for the reply to `reqId` (it timed out). A transport that holds
   * requests back (the device: one in flight) drops it if unsent, or stops waiting for it.
   */
  abandon?(reqId: number): void;
  /** Closes the connection; idempotent. */
  close(): void;
}

/** Default socket path as xs_daemon_socket() computes it (tools/xenstore/xs_lib.c). */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XENSTORED_PATH) return env.XENSTORED_PATH;
  return `${env.XENSTORED_RUNDIR ?? '/var/run/xenstored'}/socket`;
}

/** Default device path as xs_domain_dev() computes it on Linux. */
export function defaultDevicePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XENSTORED_PATH) return env.XENSTORED_PATH;
  return existsSync('/dev/xen/xenbus') ? '/dev/xen/xenbus' : '/proc/xen/xenbus';
}

/** Connect errors worth retrying: xenstored listens with a backlog of 1 (EAGAIN when it is busy) or is restarting. */
const RETRYABLE_CONNECT = new Set(['EAGAIN', 'ECONNREFUSED', 'EWOULDBLOCK']);

/**
 * Opens the unix socket of xenstored. A busy xenstored (full listen backlog) or one that is just
 * (re)starting is retried with a short back-off until `timeoutMs`.
 */
export async function openSocketTransport(path: string, timeoutMs: number): Promise<XsTransport> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await connectOnce(path, Math.max(1, deadline - Date.now()));
    } catch (error) {
      const code = ((error as XenstoreError).cause as NodeJS.ErrnoException | undefined)?.code;
      const wait = Math.min(200, 5 * 2 ** attempt);
      if (!code || !RETRYABLE_CONNECT.has(code) || Date.now() + wait >= deadline) throw error;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

function connectOnce(path: string, timeoutMs: number): Promise<XsTransport> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new XenstoreError('ETIMEDOUT', `connecting to xenstored at ${path} timed out after ${timeoutMs} ms`, { code: 'TXL_XS_CONNECT', details: { path } }));
    }, timeoutMs);
    const onError = (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new XenstoreError('ENOTCONN', `cannot connect to xenstored at ${path}: ${error.code ?? error.message}`, {
        code: 'TXL_XS_CONNECT', cause: error, details: { path },
        hint: 'Is xenstored running? Set XENSTORED_PATH to its socket, or use the /dev/xen/xenbus device.',
      }));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      let closeReceiver: ((error?: Error) => void) | undefined;
      let lastError: Error | undefined;
      socket.on('error', (error) => { lastError = error; });
      socket.on('close', () => closeReceiver?.(lastError));
      resolve({
        endpoint: path,
        write: (frame) => { if (!socket.destroyed) socket.write(frame); },
        onData: (receiver) => { socket.on('data', receiver); },
        onClose: (receiver) => { closeReceiver = receiver; },
        close: () => { socket.destroy(); },
      });
    });
  });
}

/** The few operations of an open xenbus device the transport needs (a port, so tests can fake the kernel). */
export interface XenbusDevice {
  /**
   * Reads what the kernel has queued, without waiting: resolves with the bytes (at least one), or
   * with undefined when nothing is queued (EAGAIN). Rejects on any other error.
   */
  read(buffer: Buffer): Promise<Buffer | undefined>;
  /** Hands one whole message to the kernel. */
  write(frame: Buffer): Promise<void>;
  /** Closes the device; idempotent. */
  close(): Promise<void>;
}

/** Poll intervals of the device transport: from the first retry up to the cap. */
export interface XenbusPollOptions {
  /** Longest wait between reads while a reply is owed (default 8 ms). */
  readonly replyPollMaxMs?: number;
  /** Longest wait between reads while only watch events are awaited (default 50 ms). */
  readonly eventPollMaxMs?: number;
}

/**
 * Opens /dev/xen/xenbus (or /proc/xen/xenbus) non-blocking. The kernel takes whole messages per
 * write and returns replies and watch events on read.
 *
 * Why non-blocking: Node reads files on libuv's thread pool, and a blocking read of the device
 * waits in the kernel until something is queued. Nothing cancels it: close() waits for it, and at
 * exit libuv joins its threads, so even process.exit() hangs (seen in the lab: the conformance
 * suite printed its results and never exited). With O_NONBLOCK a read returns EAGAIN at once and
 * the transport polls, with a short back-off, only while replies are owed or watches are active.
 */
export async function openDeviceTransport(path: string, opts: XenbusPollOptions = {}): Promise<XsTransport> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(path, fsConstants.O_RDWR | fsConstants.O_NONBLOCK);
  } catch (error) {
    throw new XenstoreError('ENOTCONN', `cannot open the xenbus device ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      code: 'TXL_XS_CONNECT', cause: error, details: { path },
      hint: 'The device exists in a Xen domain with the xenfs/xen-xenbus driver loaded; run as root.',
    });
  }
  let closing: Promise<void> | undefined;
  const device: XenbusDevice = {
    read: async (buffer) => {
      try {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) throw new Error(`${path}: end of file`);
        return buffer.subarray(0, bytesRead);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') return undefined;
        throw error;
      }
    },
    write: async (frame) => {
      // A message is taken whole or refused; a short count would mean a kernel we do not know.
      const { bytesWritten } = await handle.write(frame, 0, frame.length, null);
      if (bytesWritten !== frame.length) throw Object.assign(new Error(`${path}: short write (${bytesWritten} of ${frame.length} bytes)`), { code: 'EIO' });
    },
    close: () => (closing ??= handle.close().catch(() => undefined)),
  };
  return deviceTransport(device, path, opts);
}

/**
 * The xenbus device protocol over an open device: one request in flight at a time, polled
 * non-blocking reads while something is expected, kernel refusals turned into XS_ERROR replies.
 */
export function deviceTransport(device: XenbusDevice, endpoint: string, opts: XenbusPollOptions = {}): XsTransport {
  const replyPollMaxMs = opts.replyPollMaxMs ?? 8;
  const eventPollMaxMs = opts.eventPollMaxMs ?? 50;
  let dataReceiver: ((chunk: Buffer) => void) | undefined;
  let closeReceiver: ((error?: Error) => void) | undefined;
  let expecting = false;
  let closed = false;
  // One request in flight at a time: Linux's xenbus_dev_request_and_reply() queues a pointer into the
  // file's message buffer, which the next write() overwrites before a full 1 KiB ring drains it
  // (seen in the lab: pipelined writes answered OK but lost). Watch events do not count as replies.
  const queue: Buffer[] = [];
  let inFlight: number | undefined; // req_id of the request the kernel has and has not answered yet
  const replies = new FrameDecoder();
  // Polling state: a read on the thread pool (never blocking), or a timer until the next one.
  let reading = false;
  let timer: NodeJS.Timeout | undefined;
  let delay = 0;
  const buffer = Buffer.allocUnsafe(HEADER_SIZE + PAYLOAD_MAX);

  const finish = (error?: Error) => {
    if (closed) return;
    closed = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
    queue.length = 0;
    void device.close();
    closeReceiver?.(error);
  };
  const incoming = (chunk: Buffer) => {
    try {
      for (const f of replies.push(Buffer.from(chunk))) if (f.type !== XsType.WATCH_EVENT && f.reqId === inFlight) inFlight = undefined;
    } catch {
      inFlight = undefined; // the client's own decoder reports the malformed stream and closes
    }
    dataReceiver?.(chunk);
    kick();
  };
  const kick = () => {
    if (inFlight !== undefined || closed || queue.length === 0) return;
    const frame = queue.shift()!;
    const reqId = frame.readUInt32LE(4);
    inFlight = reqId;
    device.write(frame).then(
      () => undefined,
      (error: NodeJS.ErrnoException) => {
        // The kernel refuses some requests in write() itself (a watch xenstored rejected, a message
        // too large): answer them as xenstored would, with XS_ERROR, and keep the connection.
        const code = error.code;
        if (closed) return;
        if (!code || code === 'EBADF') return finish(error);
        const errno = code === 'EILSEQ' ? 'EINVAL' : isWireErrno(code) ? code : 'EIO';
        incoming(encodeFrame({ type: XsType.ERROR, reqId, txId: frame.readUInt32LE(8), payload: Buffer.from(`${errno}\0`) }));
      },
    );
    poll(true);
  };
  /** Reads now (or soon) if anything is expected; `fresh` restarts the back-off (new activity). */
  const poll = (fresh = false) => {
    if (fresh) delay = 0;
    if (closed || reading || !(expecting || inFlight !== undefined)) {
      if (!(expecting || inFlight !== undefined) && timer) {
        clearTimeout(timer);
        timer = undefined;
      }
      return;
    }
    if (timer) {
      if (!fresh) return;
      clearTimeout(timer);
      timer = undefined;
    }
    const readNow = () => {
      timer = undefined;
      if (closed || reading || !(expecting || inFlight !== undefined)) return;
      reading = true;
      device.read(buffer).then(
        (chunk) => {
          reading = false;
          if (closed) return;
          if (chunk) {
            delay = 0;
            incoming(Buffer.from(chunk)); // copied: the buffer is reused by the next read
          } else {
            const cap = inFlight !== undefined ? replyPollMaxMs : eventPollMaxMs;
            delay = Math.min(cap, delay === 0 ? 1 : delay * 2);
          }
          poll();
        },
        (error: Error) => { reading = false; finish(error); },
      );
    };
    if (delay === 0) readNow();
    else timer = setTimeout(readNow, delay);
  };
  return {
    endpoint,
    // Linux buffers a request, header included, in XENSTORE_PAYLOAD_MAX bytes (xenbus_dev_frontend.c).
    maxPayload: PAYLOAD_MAX - HEADER_SIZE,
    write: (frame) => {
      if (closed) return;
      if (frame.length < HEADER_SIZE) throw new XenstoreError('EINVAL', `a xenstore message is at least ${HEADER_SIZE} bytes, got ${frame.length}`, { code: 'TXL_XS_LIMIT' });
      queue.push(frame);
      kick();
    },
    onData: (receiver) => { dataReceiver = receiver; },
    onClose: (receiver) => { closeReceiver = receiver; },
    setExpecting: (value) => {
      const was = expecting;
      expecting = value;
      poll(value && !was);
    },
    abandon: (reqId) => {
      const queued = queue.findIndex((f) => f.readUInt32LE(4) === reqId);
      if (queued >= 0) queue.splice(queued, 1);
      // The kernel may still answer; the client counts a late reply as unmatched. Send the next one.
      else if (inFlight === reqId) {
        inFlight = undefined;
        kick();
        poll();
      }
    },
    close: () => finish(),
  };
}

/** True when `path` is a character device (so it is the xenbus device, not a socket). */
export function isCharDevice(path: string): boolean {
  try {
    return statSync(path).isCharacterDevice();
  } catch {
    return false;
  }
}
