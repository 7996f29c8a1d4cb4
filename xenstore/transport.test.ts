import { execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { XenstoreClient } from './client.js';
import { MemoryXenstore } from './memory.js';
import { deviceTransport, openDeviceTransport, type XenbusDevice, type XsTransport } from './transport.js';
import { encodeFrame, FrameDecoder, joinStrings, splitStrings, XsType, type XsFrame } from './wire.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Serves a MemoryXenstore on a unix socket, like xenstored does. */
function serve(store: MemoryXenstore, path: string): net.Server {
  return net.createServer((socket) => {
    const t: XsTransport = store.connect();
    t.onData((b) => socket.write(b));
    t.onClose(() => socket.destroy());
    socket.on('data', (b) => t.write(b));
    socket.on('close', () => t.close());
    socket.on('error', () => undefined);
  }).listen(path);
}

describe('socket transport', () => {
  it('talks to a server on a unix socket, and retries while nobody listens yet', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'txl-xs-'));
    dirs.push(dir);
    const path = join(dir, 'socket');
    const store = new MemoryXenstore();
    // A stale socket file nobody listens on (moved away from a server that then closed): ECONNREFUSED.
    const stale = net.createServer().listen(`${path}.tmp`);
    await new Promise((r) => stale.once('listening', r));
    renameSync(`${path}.tmp`, path);
    await new Promise<void>((r) => stale.close(() => r()));
    const started = Date.now();
    const connecting = XenstoreClient.connect({ path, transport: 'socket', timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 150));
    rmSync(path, { force: true });
    const server = serve(store, path);
    await new Promise((r) => server.once('listening', r));
    const xs = await connecting;
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    await xs.write('/over/socket', 'yes');
    expect(await xs.read('/over/socket')).toBe('yes');
    await xs.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('fails with TXL_XS_CONNECT when there is no socket', async () => {
    await expect(XenstoreClient.connect({ path: '/nonexistent/xenstored/socket', transport: 'socket', timeoutMs: 300 })).rejects.toMatchObject({ code: 'TXL_XS_CONNECT' });
  });
});

/**
 * A fake xenbus device: answers each request with OK (or a READ with its path), keeps replies and
 * watch events queued for non-blocking reads, and checks the one-request-in-flight rule.
 */
class FakeKernel implements XenbusDevice {
  readonly queued: Buffer[] = [];
  readonly writes: { path: string; reqId: number }[] = [];
  reads = 0;
  closed = false;
  maxInFlight = 0;
  private readonly owed = new Set<number>();
  /** Paths whose requests are never answered; paths answered only when `answer` is called. */
  readonly silent = new Set<string>();
  readonly held = new Map<string, XsFrame>();
  /** Errors write() fails with, by path. */
  readonly refuse = new Map<string, string>();

  async read(buffer: Buffer): Promise<Buffer | undefined> {
    this.reads++;
    const next = this.queued.shift();
    if (!next) return undefined;
    next.copy(buffer);
    return buffer.subarray(0, next.length);
  }

  async write(frame: Buffer): Promise<void> {
    const [f] = new FrameDecoder().push(frame) as [XsFrame];
    const path = splitStrings(f.payload)[0] ?? '';
    this.writes.push({ path, reqId: f.reqId });
    const refusal = this.refuse.get(path);
    if (refusal) throw Object.assign(new Error(refusal), { code: refusal });
    if (this.silent.has(path)) return; // taken and lost: the kernel never answers it
    this.owed.add(f.reqId);
    this.maxInFlight = Math.max(this.maxInFlight, this.owed.size);
    if (this.held.has(path)) {
      this.held.set(path, f);
      return;
    }
    this.reply(f);
  }

  /** Answers a held request now (or late, after its client gave up). */
  answer(path: string): void {
    const f = this.held.get(path);
    if (f) this.reply(f);
  }

  event(path: string, token: string): void {
    this.queued.push(encodeFrame({ type: XsType.WATCH_EVENT, reqId: 0, txId: 0, payload: joinStrings([path, token]) }));
  }

  private reply(f: XsFrame): void {
    this.owed.delete(f.reqId);
    const payload = f.type === XsType.READ ? Buffer.from(`value of ${splitStrings(f.payload)[0]}`) : Buffer.from('OK\0');
    this.queued.push(encodeFrame({ type: f.type, reqId: f.reqId, txId: f.txId, payload }));
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('xenbus device transport', () => {
  it('sends one request at a time, answers pipelined requests in order, and stops reading when idle', async () => {
    const kernel = new FakeKernel();
    const xs = XenstoreClient.overTransport(deviceTransport(kernel, 'fake'), { timeoutMs: 5000 });
    const values = await Promise.all(Array.from({ length: 20 }, (_, i) => xs.read(`/k${i}`)));
    expect(values).toEqual(Array.from({ length: 20 }, (_, i) => `value of /k${i}`));
    expect(kernel.maxInFlight).toBe(1);
    const reads = kernel.reads;
    await sleep(100);
    expect(kernel.reads).toBe(reads); // nothing expected: no polling
    await xs.close();
    expect(kernel.closed).toBe(true);
  });

  it('times out a request the kernel never answers with TXL_XS_TIMEOUT and sends the next one', async () => {
    const kernel = new FakeKernel();
    kernel.silent.add('/never');
    kernel.held.set('/slow', { type: 0, reqId: 0, txId: 0, payload: Buffer.alloc(0) });
    const xs = XenstoreClient.overTransport(deviceTransport(kernel, 'fake'), { timeoutMs: 150 });
    const never = xs.read('/never');
    const queued = xs.read('/queued-behind'); // waits behind /never, then is sent
    await expect(never).rejects.toMatchObject({ code: 'TXL_XS_TIMEOUT', errno: 'ETIMEDOUT', path: '/never' });
    expect(await queued).toBe('value of /queued-behind');
    // A late reply to a request the client gave up on must not let a second request go out early.
    kernel.held.delete('/never');
    const slow = xs.read('/slow').catch((e: unknown) => e);
    const after = xs.read('/after');
    await sleep(20);
    expect(kernel.writes.map((w) => w.path)).toEqual(['/never', '/queued-behind', '/slow']);
    kernel.queued.push(encodeFrame({ type: XsType.READ, reqId: kernel.writes[0]!.reqId, txId: 0, payload: Buffer.from('late') }));
    await sleep(50);
    expect(kernel.writes.map((w) => w.path)).toEqual(['/never', '/queued-behind', '/slow']);
    expect(xs.unmatchedReplies).toBe(1);
    kernel.answer('/slow');
    expect(await slow).toBe('value of /slow');
    expect(await after).toBe('value of /after');
    expect(kernel.maxInFlight).toBe(1);
    await xs.close();
  });

  it('turns a request the kernel refuses in write() into an XS_ERROR and keeps the connection', async () => {
    const kernel = new FakeKernel();
    kernel.refuse.set('/refused', 'EINVAL');
    const xs = XenstoreClient.overTransport(deviceTransport(kernel, 'fake'), { timeoutMs: 5000 });
    await expect(xs.read('/refused')).rejects.toMatchObject({ errno: 'EINVAL', path: '/refused' });
    expect(await xs.read('/fine')).toBe('value of /fine');
    await xs.close();
  });

  it('polls for watch events only while a watch is active', async () => {
    const kernel = new FakeKernel();
    const xs = XenstoreClient.overTransport(deviceTransport(kernel, 'fake', { eventPollMaxMs: 10 }), { timeoutMs: 5000 });
    const watch = xs.watch('/w', 'tok');
    await watch.ready;
    const events = watch[Symbol.asyncIterator]();
    setTimeout(() => kernel.event('/w/x', 'tok'), 60);
    expect((await events.next()).value).toEqual({ path: '/w/x', token: 'tok' });
    await watch.close();
    const reads = kernel.reads;
    await sleep(60);
    expect(kernel.reads).toBe(reads);
    await xs.close();
  });

  it('never leaves a read outstanding in the thread pool, so closing lets the process exit', async () => {
    // A FIFO stands in for /dev/xen/xenbus: a read of it waits until data arrives, as the device's does.
    const dir = mkdtempSync(join(tmpdir(), 'txl-xs-'));
    dirs.push(dir);
    const fifo = join(dir, 'xenbus');
    execFileSync('mkfifo', [fifo]);
    const transport = await openDeviceTransport(fifo, { eventPollMaxMs: 5 });
    transport.onData(() => undefined);
    transport.setExpecting!(true); // as with an active watch: the transport reads for events
    await sleep(50);
    transport.close();
    // A blocking read stays pending here for ever (and makes process.exit() hang in libuv's exit).
    const deadline = Date.now() + 2000;
    while (process.getActiveResourcesInfo().includes('FSReqPromise') && Date.now() < deadline) await sleep(10);
    expect(process.getActiveResourcesInfo()).not.toContain('FSReqPromise');
  });
});
