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
   * reads only then, so an idle connection holds no blocked read and the process can exit.
   */
  setExpecting?(expecting: boolean): void;
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

/**
 * Opens /dev/xen/xenbus (or /proc/xen/xenbus). The kernel takes whole messages per write and returns
 * replies and watch events on read. Reads run on libuv's thread pool, so one is outstanding only
 * while the client expects something.
 */
export async function openDeviceTransport(path: string): Promise<XsTransport> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(path, fsConstants.O_RDWR);
  } catch (error) {
    throw new XenstoreError('ENOTCONN', `cannot open the xenbus device ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      code: 'TXL_XS_CONNECT', cause: error, details: { path },
      hint: 'The device exists in a Xen domain with the xenfs/xen-xenbus driver loaded; run as root.',
    });
  }
  let dataReceiver: ((chunk: Buffer) => void) | undefined;
  let closeReceiver: ((error?: Error) => void) | undefined;
  let expecting = false;
  let reading = false;
  let closed = false;
  // One request in flight at a time: Linux's xenbus_dev_request_and_reply() queues a pointer into the
  // file's message buffer, which the next write() overwrites before a full 1 KiB ring drains it
  // (seen in the lab: pipelined writes answered OK but lost). Watch events do not count as replies.
  const queue: Buffer[] = [];
  let inFlight = false;
  const replies = new FrameDecoder();
  const finish = (error?: Error) => {
    if (closed) return;
    closed = true;
    void handle.close().catch(() => undefined);
    closeReceiver?.(error);
  };
  const incoming = (chunk: Buffer) => {
    try {
      for (const f of replies.push(Buffer.from(chunk))) if (f.type !== XsType.WATCH_EVENT) inFlight = false;
    } catch {
      inFlight = false; // the client's own decoder reports the malformed stream
    }
    dataReceiver?.(chunk);
    kick();
  };
  const kick = () => {
    if (inFlight || closed || queue.length === 0) return;
    const frame = queue.shift()!;
    inFlight = true;
    handle.write(frame, 0, frame.length, null).then(
      () => undefined,
      (error: NodeJS.ErrnoException) => {
        // The kernel refuses some requests in write() itself (a watch xenstored rejected, a message
        // too large): answer them as xenstored would, with XS_ERROR, and keep the connection.
        const code = error.code;
        if (closed || !code || frame.length < HEADER_SIZE || code === 'EBADF') return finish(error);
        const errno = code === 'EILSEQ' ? 'EINVAL' : isWireErrno(code) ? code : 'EIO';
        incoming(encodeFrame({ type: XsType.ERROR, reqId: frame.readUInt32LE(4), txId: frame.readUInt32LE(8), payload: Buffer.from(`${errno}\0`) }));
      },
    );
  };
  const pump = () => {
    if (reading || closed || !expecting) return;
    reading = true;
    const buffer = Buffer.allocUnsafe(HEADER_SIZE + PAYLOAD_MAX);
    handle.read(buffer, 0, buffer.length, null).then(
      ({ bytesRead }) => {
        reading = false;
        if (closed) return;
        if (bytesRead === 0) return finish(new Error(`${path}: end of file`));
        incoming(buffer.subarray(0, bytesRead));
        pump();
      },
      (error: Error) => { reading = false; finish(error); },
    );
  };
  return {
    endpoint: path,
    // Linux buffers a request, header included, in XENSTORE_PAYLOAD_MAX bytes (xenbus_dev_frontend.c).
    maxPayload: PAYLOAD_MAX - HEADER_SIZE,
    write: (frame) => {
      if (closed) return;
      queue.push(frame);
      kick();
    },
    onData: (receiver) => { dataReceiver = receiver; },
    onClose: (receiver) => { closeReceiver = receiver; },
    setExpecting: (value) => { expecting = value; pump(); },
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
