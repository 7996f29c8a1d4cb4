// Inside a lab dom0: N sequential writes, N pipelined reads (all in flight at once) and, for
// reference, N sequential reads through txl's xenstore client. Prints "<write ns> <pipelined read ns>
// <sequential read ns>". Run by bench/xenstore.ts as `node dist/bench/xenstore-dom0.js N BASE`.
import { XenstoreClient } from '../xenstore/index.js';

const n = Number(process.argv[2] ?? 10000);
const base = process.argv[3] ?? '/txl-bench-txl';
// Replies to 10,000 requests in flight can take long under TCG: no per-request timeout here.
const xs = await XenstoreClient.connect({ transport: 'socket', timeoutMs: 0 });
try {
  const paths = Array.from({ length: n }, (_, i) => `${base}/k${i}`);
  // Warm up the JIT and the connection (the C program has no such cost).
  for (let i = 0; i < 200; i++) await xs.write(`${base}-warm/k${i % 10}`, 'value');
  await Promise.all(Array.from({ length: 200 }, (_, i) => xs.read(`${base}-warm/k${i % 10}`)));
  await xs.rm(`${base}-warm`);

  const t0 = process.hrtime.bigint();
  for (const p of paths) await xs.write(p, 'value');
  const t1 = process.hrtime.bigint();
  const values = await Promise.all(paths.map((p) => xs.read(p)));
  const t2 = process.hrtime.bigint();
  for (const p of paths) await xs.read(p);
  const t3 = process.hrtime.bigint();
  if (values.some((v) => v !== 'value')) throw new Error('a pipelined read returned the wrong value');
  await xs.rm(base);
  process.stdout.write(`${t1 - t0} ${t2 - t1} ${t3 - t2}\n`);
} finally {
  await xs.close();
}
