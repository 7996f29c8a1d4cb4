// XenstoreClient against scripted servers: req_id matching, malformed and truncated replies,
// timeouts, the server going away mid-transaction and mid-watch. No case may hang or leave an
// unhandled rejection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XenstoreClient } from './client.js';
import { XenstoreError } from './errors.js';
import type { XsTransport } from './transport.js';
import { encodeFrame, FrameDecoder, XsType, type XsFrame } from './wire.js';

/** A transport whose server side is scripted by the test. */
function scripted(onRequest: (frame: XsFrame, server: ScriptedServer) => void): { transport: XsTransport; server: ScriptedServer } {
  let receiver: ((b: Buffer) => void) | undefined;
  let closer: ((e?: Error) => void) | undefined;
  const decoder = new FrameDecoder();
  const written: XsFrame[] = [];
  let closed = false;
  const server: ScriptedServer = {
    written,
    send: (frame) => queueMicrotask(() => receiver?.(encodeFrame(frame))),
    sendBytes: (bytes) => queueMicrotask(() => receiver?.(bytes)),
    reply: (req, payload, type = req.type) => server.send({ type, reqId: req.reqId, txId: req.txId, payload: Buffer.from(payload, 'latin1') }),
    hangUp: (error) => queueMicrotask(() => { closed = true; closer?.(error); }),
  };
  const transport: XsTransport = {
    endpoint: 'scripted',
    write: (bytes) => {
      if (closed) return;
      for (const f of decoder.push(bytes)) {
        written.push(f);
        onRequest(f, server);
      }
    },
    onData: (r) => void (receiver = r),
    onClose: (c) => void (closer = c),
    close: () => server.hangUp(),
  };
  return { transport, server };
}

interface ScriptedServer {
  readonly written: XsFrame[];
  send(frame: XsFrame): void;
  sendBytes(bytes: Buffer): void;
  reply(req: XsFrame, payload: string, type?: number): void;
  hangUp(error?: Error): void;
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
beforeAll(() => void process.on('unhandledRejection', onUnhandled));
afterAll(async () => {
  await new Promise((r) => setTimeout(r, 50));
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

async function errorOf(p: Promise<unknown>): Promise<XenstoreError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(XenstoreError);
    return error as XenstoreError;
  }
  throw new Error('expected a rejection');
}

describe('XenstoreClient requests', () => {
  it('pipelines requests and matches replies by req_id, whatever their order', async () => {
    const held: XsFrame[] = [];
    const { transport } = scripted((req, server) => {
      held.push(req);
      if (held.length === 3) for (const r of held.reverse()) server.reply(r, `value of ${r.payload.toString('latin1').replace('\0', '')}`);
    });
    const xs = XenstoreClient.overTransport(transport);
    const values = await Promise.all([xs.read('/a'), xs.read('/b'), xs.read('/c')]);
    expect(values).toEqual(['value of /a', 'value of /b', 'value of /c']);
    expect(new Set(held.map((f) => f.reqId)).size).toBe(3);
  });

  it('turns XS_ERROR into XenstoreError with the errno name and a stable code', async () => {
    const { transport } = scripted((req, server) => {
      const path = req.payload.toString('latin1');
      if (path.startsWith('/missing')) server.reply(req, 'ENOENT\0', XsType.ERROR);
      else if (path.startsWith('/weird')) server.reply(req, 'EWEIRD\0', XsType.ERROR);
      else server.reply(req, 'EACCES', XsType.ERROR);
    });
    const xs = XenstoreClient.overTransport(transport);
    const enoent = await errorOf(xs.read('/missing'));
    expect([enoent.errno, enoent.code, enoent.operation, enoent.path]).toEqual(['ENOENT', 'TXL_XS_ENOENT', 'READ', '/missing']);
    expect(enoent.message).toBe('xenstore READ /missing: ENOENT (No such file or directory)');
    expect((await errorOf(xs.read('/weird'))).errno).toBe('EINVAL');
    const malformed = await errorOf(xs.read('/x'));
    expect([malformed.errno, malformed.code]).toEqual(['EPROTO', 'TXL_XS_PROTOCOL']);
    expect(await xs.tryRead('/missing')).toBeUndefined();
  });

  it('rejects replies of the wrong type or shape with EPROTO and ignores unmatched ones', async () => {
    const { transport } = scripted((req, server) => {
      server.send({ type: XsType.READ, reqId: req.reqId + 1000, txId: 0, payload: Buffer.from('stray') });
      if (req.type === XsType.WRITE) server.reply(req, 'NOPE\0');
      else if (req.type === XsType.TRANSACTION_START) server.reply(req, 'abc\0');
      else server.reply(req, 'x', XsType.DIRECTORY);
    });
    const xs = XenstoreClient.overTransport(transport);
    expect((await errorOf(xs.read('/a'))).errno).toBe('EPROTO');
    expect((await errorOf(xs.write('/a', 'v'))).message).toMatch(/expected "OK"/);
    expect((await errorOf(xs.transactionStart())).message).toMatch(/not a transaction id/);
    expect(xs.unmatchedReplies).toBe(3);
  });

  it('refuses oversized payloads and invalid paths without sending anything', async () => {
    const { transport, server } = scripted((req, s) => s.reply(req, 'OK\0'));
    const xs = XenstoreClient.overTransport(transport);
    const big = await errorOf(xs.write('/a', 'x'.repeat(4096)));
    expect([big.errno, big.code]).toEqual(['E2BIG', 'TXL_XS_LIMIT']);
    const bad = await errorOf(xs.write('/a b', 'x'));
    expect([bad.errno, bad.code]).toEqual(['EINVAL', 'TXL_XS_LIMIT']);
    expect(server.written).toHaveLength(0);
    await xs.write('/a', 'x'.repeat(4093));
    expect(server.written).toHaveLength(1);
  });

  it('times out a request that gets no reply, and ignores the late reply', async () => {
    let late: XsFrame | undefined;
    const { transport, server } = scripted((req) => void (late = req));
    const xs = XenstoreClient.overTransport(transport, { timeoutMs: 30 });
    const error = await errorOf(xs.read('/slow'));
    expect([error.errno, error.code]).toEqual(['ETIMEDOUT', 'TXL_XS_TIMEOUT']);
    server.reply(late!, 'too late');
    await new Promise((r) => setTimeout(r, 5));
    expect(xs.unmatchedReplies).toBe(1);
  });

  it('fails everything pending when the server sends an oversized frame', async () => {
    const { transport, server } = scripted(() => undefined);
    const xs = XenstoreClient.overTransport(transport);
    const pending = [xs.read('/a'), xs.read('/b')];
    const header = Buffer.alloc(16);
    header.writeUInt32LE(XsType.READ, 0);
    header.writeUInt32LE(1, 4);
    header.writeUInt32LE(5000, 12);
    server.sendBytes(header);
    for (const p of pending) expect((await errorOf(p)).code).toBe('TXL_XS_PROTOCOL');
    expect(xs.closed).toBe(true);
    expect((await errorOf(xs.read('/c'))).code).toBe('TXL_XS_PROTOCOL');
  });

  it('fails with TXL_XS_CLOSED when the server goes away after a truncated reply', async () => {
    const { transport, server } = scripted((req, s) => {
      s.sendBytes(encodeFrame({ type: req.type, reqId: req.reqId, txId: 0, payload: Buffer.from('complete value') }).subarray(0, 20));
      s.hangUp(new Error('EOF'));
    });
    const xs = XenstoreClient.overTransport(transport);
    const error = await errorOf(xs.read('/a'));
    expect([error.errno, error.code]).toEqual(['ECONNRESET', 'TXL_XS_CLOSED']);
    void server;
  });
});

describe('XenstoreClient transactions and watches under faults', () => {
  it('a transaction whose server goes away rejects instead of hanging', async () => {
    const { transport } = scripted((req, server) => {
      if (req.type === XsType.TRANSACTION_START) server.reply(req, '5\0');
      else if (req.type === XsType.READ) server.hangUp();
    });
    const xs = XenstoreClient.overTransport(transport);
    const error = await errorOf(xs.transaction(async (tx) => tx.read('/a')));
    expect(error.code).toBe('TXL_XS_CLOSED');
  });

  it('the transaction helper retries on EAGAIN and aborts when the body throws', async () => {
    let commits = 0;
    const { transport, server } = scripted((req, s) => {
      if (req.type === XsType.TRANSACTION_START) s.reply(req, '9\0');
      else if (req.type === XsType.TRANSACTION_END && req.payload.toString('latin1') === 'T\0') {
        commits++;
        s.reply(req, commits < 3 ? 'EAGAIN\0' : 'OK\0', commits < 3 ? XsType.ERROR : XsType.TRANSACTION_END);
      } else s.reply(req, req.type === XsType.READ ? 'v' : 'OK\0');
    });
    const xs = XenstoreClient.overTransport(transport);
    let runs = 0;
    expect(await xs.transaction(async (tx) => { runs++; return tx.read('/a'); })).toBe('v');
    expect(runs).toBe(3);
    expect(server.written.filter((f) => f.type === XsType.READ).every((f) => f.txId === 9)).toBe(true);
    await expect(xs.transaction(async () => { throw new Error('body failed'); })).rejects.toThrow('body failed');
    expect(server.written.at(-1)!.payload.toString('latin1')).toBe('F\0');
    const never = await errorOf(xs.transaction(async () => { commits = 0; }, { maxAttempts: 2 }));
    expect(never.code).toBe('TXL_XS_TX_RETRIES');
  });

  it('a watch iteration ends with TXL_XS_CLOSED when the server goes away', async () => {
    const { transport, server } = scripted((req, s) => {
      s.reply(req, 'OK\0');
      s.send({ type: XsType.WATCH_EVENT, reqId: 0, txId: 0, payload: Buffer.from('/w\0tok\0') });
    });
    const xs = XenstoreClient.overTransport(transport);
    const seen: string[] = [];
    const watching = (async () => {
      for await (const event of xs.watch('/w', 'tok')) {
        seen.push(event.path);
        if (seen.length === 1) server.send({ type: XsType.WATCH_EVENT, reqId: 0, txId: 0, payload: Buffer.from('/w/x\0tok\0') });
        if (seen.length === 2) server.hangUp();
      }
    })();
    const error = await errorOf(watching);
    expect(error.code).toBe('TXL_XS_CLOSED');
    expect(seen).toEqual(['/w', '/w/x']);
  });

  it('routes events by token and path; a failed registration surfaces through ready and iteration', async () => {
    const { transport, server } = scripted((req, s) => {
      const [path] = req.payload.toString('latin1').split('\0');
      if (req.type === XsType.WATCH && path === '/denied') return s.reply(req, 'EACCES\0', XsType.ERROR);
      s.reply(req, 'OK\0');
    });
    const xs = XenstoreClient.overTransport(transport);
    const a = xs.watch('/a', 'same');
    const b = xs.watch('/b', 'same');
    await Promise.all([a.ready, b.ready]);
    for (const p of ['/a/1', '/b/1', '/a']) server.send({ type: XsType.WATCH_EVENT, reqId: 0, txId: 0, payload: Buffer.from(`${p}\0same\0`) });
    const ia = a[Symbol.asyncIterator]();
    const ib = b[Symbol.asyncIterator]();
    expect((await ia.next()).value).toEqual({ path: '/a/1', token: 'same' });
    expect((await ia.next()).value).toEqual({ path: '/a', token: 'same' });
    expect((await ib.next()).value).toEqual({ path: '/b/1', token: 'same' });
    await a.close();
    expect(server.written.at(-1)!.type).toBe(XsType.UNWATCH);
    const denied = xs.watch('/denied', 't');
    expect((await errorOf(denied.ready)).errno).toBe('EACCES');
    expect((await errorOf(denied[Symbol.asyncIterator]().next())).errno).toBe('EACCES');
    await xs.close();
    expect(await ib.next()).toEqual({ value: undefined, done: true });
  });

  it('close() rejects pending requests with TXL_XS_CLOSED', async () => {
    const { transport } = scripted(() => undefined);
    const xs = XenstoreClient.overTransport(transport);
    const pending = xs.read('/a');
    await xs.close();
    expect((await errorOf(pending)).code).toBe('TXL_XS_CLOSED');
    await xs.close();
  });
});

describe('XenstoreClient directory', () => {
  it('falls back to DIRECTORY_PART on E2BIG and restarts when the generation changes', async () => {
    const names = Array.from({ length: 10 }, (_, i) => `n${i}`);
    const list = Buffer.from(names.map((n) => `${n}\0`).join(''));
    let gen = 1;
    let parts = 0;
    const { transport } = scripted((req, s) => {
      if (req.type === XsType.DIRECTORY) return s.reply(req, 'E2BIG\0', XsType.ERROR);
      const off = Number(req.payload.toString('latin1').split('\0')[1]);
      parts++;
      if (parts === 2) gen = 2; // the directory changed between chunks
      const chunk = list.subarray(off, Math.min(list.length, off + 9));
      // Chunks end at a NUL: cut back to the last complete name.
      const end = off + 9 >= list.length ? chunk.length : chunk.lastIndexOf(0) + 1;
      const last = off + end >= list.length;
      s.send({ type: req.type, reqId: req.reqId, txId: 0, payload: Buffer.concat([Buffer.from(`${gen}\0`), chunk.subarray(0, end), last ? Buffer.from([0]) : Buffer.alloc(0)]) });
    });
    const xs = XenstoreClient.overTransport(transport);
    expect(await xs.directory('/big')).toEqual(names);
    expect(parts).toBeGreaterThan(4);
  });
});
