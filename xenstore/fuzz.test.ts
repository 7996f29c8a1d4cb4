// Random message streams against the frame decoder and MemoryXenstore (seeded PRNG, reproducible).
// The server must answer every complete request exactly once, never hit an internal error and keep
// its tree consistent; the decoder must only ever fail with FrameError. Prints how many it ran.
import { describe, expect, it } from 'vitest';
import { XenstoreClient } from './client.js';
import { XenstoreError } from './errors.js';
import { MemoryXenstore } from './memory.js';
import type { XsTransport } from './transport.js';
import { encodeFrame, FrameDecoder, FrameError, PAYLOAD_MAX, XsType, type XsFrame } from './wire.js';

/** mulberry32: small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.TXL_FUZZ_SEED ?? 0x5eed);

describe('fuzz: FrameDecoder', () => {
  it('splits random valid streams at random points into the original frames, and rejects only with FrameError', () => {
    const rnd = prng(SEED);
    const int = (n: number) => Math.floor(rnd() * n);
    let streams = 0;
    let frames = 0;
    let garbage = 0;
    for (let s = 0; s < 300; s++) {
      const sent: XsFrame[] = Array.from({ length: 1 + int(20) }, () => ({
        type: int(30), reqId: int(2 ** 32), txId: int(4), payload: Buffer.from(Array.from({ length: rnd() < 0.05 ? PAYLOAD_MAX : int(64) }, () => int(256))),
      }));
      const bytes = Buffer.concat(sent.map(encodeFrame));
      const decoder = new FrameDecoder();
      const got: XsFrame[] = [];
      for (let at = 0; at < bytes.length;) {
        const n = 1 + int(200);
        got.push(...decoder.push(bytes.subarray(at, at + n)));
        at += n;
      }
      expect(got.map((f) => [f.type, f.reqId, f.txId, f.payload.toString('hex')])).toEqual(sent.map((f) => [f.type, f.reqId, f.txId, f.payload.toString('hex')]));
      streams++;
      frames += got.length;
      // Garbage: random bytes either decode into frames or fail with FrameError, nothing else.
      const junk = Buffer.from(Array.from({ length: int(600) }, () => (rnd() < 0.7 ? 0 : int(256))));
      try {
        new FrameDecoder().push(junk);
      } catch (error) {
        expect(error).toBeInstanceOf(FrameError);
      }
      garbage++;
    }
    console.log(`fuzz FrameDecoder (seed ${SEED}): ${streams} streams, ${frames} frames, ${garbage} garbage inputs, 0 crashes`);
  });
});

describe.each(['4.17', '4.20'] as const)('fuzz: MemoryXenstore as %s', (version) => {
  it('answers random request streams from several connections without internal errors', async () => {
    const rnd = prng(SEED + 1);
    const int = (n: number) => Math.floor(rnd() * n);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
    const store = new MemoryXenstore({ version, xenDomains: [0, 1, 2], quotas: { nodes: 40, watches: 4, transactions: 3 } });

    type Conn = { name: string; write(b: Buffer): void; replies: Map<number, number>; events: number; closed: boolean; expected: Set<number> };
    const open = (domid?: number): Conn => {
      const t = store.connect(domid === undefined ? {} : { domid });
      const decoder = new FrameDecoder();
      const conn: Conn = { name: domid === undefined ? 'socket' : `dom${domid}`, write: (b) => t.write(b), replies: new Map(), events: 0, closed: false, expected: new Set() };
      t.onData((chunk) => {
        for (const f of decoder.push(chunk)) {
          if (f.type === XsType.WATCH_EVENT && f.reqId === 0) conn.events++;
          else conn.replies.set(f.reqId, (conn.replies.get(f.reqId) ?? 0) + 1);
        }
      });
      t.onClose(() => void (conn.closed = true));
      return conn;
    };
    // Set up two guests the way a toolstack would, through a privileged connection.
    const setup = open();
    const send = (c: Conn, type: number, payload: Buffer, txId = 0, reqId = 1 + int(2 ** 31)) => {
      c.expected.add(reqId);
      c.write(encodeFrame({ type, reqId, txId, payload }));
      return reqId;
    };
    for (const d of [1, 2]) {
      send(setup, XsType.INTRODUCE, Buffer.from(`${d}\0${d}\0${d + 4}\0`));
      send(setup, XsType.WRITE, Buffer.from(`/local/domain/${d}/name\0guest${d}`));
      send(setup, XsType.SET_PERMS, Buffer.from(`/local/domain/${d}\0n${d}\0`));
    }
    await new Promise((r) => setTimeout(r, 5));
    const conns = [open(), open(), open(0), open(1), open(2)];

    const paths = ['/', '/a', '/a/b', '/a/b/c', '/a/x', '/local/domain/1', '/local/domain/1/d', '/local/domain/2/e/f', 'rel', 'rel/x', '@releaseDomain', '@introduceDomain', '/bad/', '//x', '/a b', ''];
    const perms = ['n0', 'r1', 'b2', 'w0', 'x9', 'r', 'n1', 'b0x1'];
    const strings = (): string => {
      const parts = Array.from({ length: int(4) }, () => (rnd() < 0.7 ? pick(paths) : rnd() < 0.5 ? pick(perms) : String(int(40))));
      return parts.map((p) => `${p}\0`).join('');
    };
    const txIds = [0, 0, 0, 1, 2, 3, 99];
    let requests = 0;
    let garbage = 0;
    for (let round = 0; round < 20000; round++) {
      const c = pick(conns);
      if (c.closed) continue;
      const r = rnd();
      if (r < 0.02) {
        // A complete frame of random bytes, of any type.
        send(c, int(40), Buffer.from(Array.from({ length: int(60) }, () => int(256))), int(3));
        garbage++;
        continue;
      }
      if (r < 0.025) {
        // Raw random bytes on a throwaway connection: may form frames or an oversized header (dropped).
        const victim = open();
        victim.write(Buffer.from(Array.from({ length: int(200) }, () => (rnd() < 0.5 ? 0 : int(256)))));
        garbage++;
        continue;
      }
      const type = r < 0.9 ? pick([1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 22, 21, 10, 17, 18, 19, 0]) : int(30);
      let payload: Buffer;
      if (type === XsType.WRITE) payload = Buffer.from(`${pick(paths)}\0${'v'.repeat(int(30))}`);
      else if (type === XsType.TRANSACTION_END) payload = Buffer.from(`${pick(['T', 'F', 'X'])}\0`);
      else if (type === XsType.CONTROL) payload = Buffer.from(`${pick(['check', 'print', 'help', 'quota', 'nope'])}\0`);
      else payload = Buffer.from(strings());
      if (rnd() < 0.002) payload = Buffer.alloc(PAYLOAD_MAX, 0x61);
      send(c, type, payload, pick(txIds));
      requests++;
      if (round % 50 === 0) await new Promise((r2) => setTimeout(r2, 0));
    }
    await new Promise((r) => setTimeout(r, 20));

    expect(store.internalErrors).toEqual([]);
    expect(store.checkStore()).toEqual([]);
    let answered = 0;
    expect(conns.filter((c) => c.closed)).toEqual([]);
    for (const c of [setup, ...conns]) {
      if (c.closed) continue; // a garbage header dropped it: replies may be missing
      for (const id of c.expected) {
        expect(c.replies.get(id), `${c.name} request ${id}`).toBe(1);
        answered++;
      }
    }
    const events = conns.reduce((n, c) => n + c.events, 0);
    console.log(`fuzz MemoryXenstore ${version} (seed ${SEED}): ${requests} requests, ${garbage} garbage writes, ${answered} replies checked, ${events} watch events, ${store.size} nodes, 0 crashes`);
    expect(answered).toBeGreaterThan(1000);
  });
});

describe('fuzz: XenstoreClient against a random server', () => {
  it('settles every request with a value or a XenstoreError, whatever comes back', async () => {
    const rnd = prng(SEED + 2);
    const int = (n: number) => Math.floor(rnd() * n);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    let requests = 0;
    let values = 0;
    const errors = new Map<string, number>();
    try {
      for (let session = 0; session < 200; session++) {
        let receiver: ((b: Buffer) => void) | undefined;
        let closer: ((e?: Error) => void) | undefined;
        const decoder = new FrameDecoder();
        const transport: XsTransport = {
          endpoint: 'random',
          write: (bytes) => {
            for (const req of decoder.push(bytes)) {
              const answer = (): Buffer => {
                const r = rnd();
                const type = r < 0.4 ? req.type : r < 0.6 ? XsType.ERROR : r < 0.7 ? XsType.WATCH_EVENT : int(30);
                const payload = r < 0.5 ? Buffer.from(['OK\0', 'ENOENT\0', '7\0', 'a\0b\0', 'T\0', '', 'junk'][int(7)]!) : Buffer.from(Array.from({ length: int(50) }, () => int(256)));
                const reqId = rnd() < 0.9 ? req.reqId : int(2 ** 32);
                const frame = encodeFrame({ type, reqId, txId: req.txId, payload });
                return rnd() < 0.01 ? frame.subarray(0, int(frame.length)) : frame;
              };
              const reply = answer();
              if (rnd() < 0.97) queueMicrotask(() => receiver?.(reply));
              if (rnd() < 0.01) queueMicrotask(() => closer?.(new Error('random hang-up')));
            }
          },
          onData: (r) => void (receiver = r),
          onClose: (c) => void (closer = c),
          close: () => queueMicrotask(() => closer?.()),
        };
        const xs = XenstoreClient.overTransport(transport, { timeoutMs: 20 });
        const ops: Promise<unknown>[] = [];
        for (let i = 0; i < 20; i++) {
          requests++;
          const op = [
            () => xs.read('/a'), () => xs.write('/a', 'v'), () => xs.directory('/'), () => xs.getPermissions('/a'),
            () => xs.transaction(async (tx) => tx.read('/a'), { maxAttempts: 3 }), () => xs.isDomainIntroduced(1),
            () => xs.getDomainPath(1), () => xs.mkdir('/m'), () => xs.rm('/m'), () => xs.watch('/w', `t${i}`).ready,
          ][int(10)]!;
          ops.push(op());
        }
        const settled = await Promise.allSettled(ops);
        for (const r of settled) {
          if (r.status === 'fulfilled') values++;
          else {
            expect(r.reason).toBeInstanceOf(XenstoreError);
            const code = (r.reason as XenstoreError).code;
            errors.set(code, (errors.get(code) ?? 0) + 1);
          }
        }
        await xs.close();
      }
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    console.log(`fuzz XenstoreClient (seed ${SEED}): ${requests} requests, ${values} values, errors ${JSON.stringify(Object.fromEntries(errors))}, 0 crashes`);
  });
});
