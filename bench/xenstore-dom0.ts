// Inside a lab dom0: N sequential writes, N pipelined reads (all in flight at once) and, for
// reference, N/10 sequential reads through txl's xenstore client. Prints "<write ns> <pipelined read ns>
// <sequential read ns, scaled to N>". Run by bench/xenstore.ts as `node dist/bench/xenstore-dom0.js N BASE`.
import { XenstoreClient } from '../xenstore/index.js';

const n = Number(process.argv[2] ?? 10000);
const base = process.argv[3] ?? '/txl-bench-txl';
// Replies to 10,000 requests in flight take seconds under TCG: a roomy per-request timeout (a hang
// still ends with a typed TXL_XS_TIMEOUT error).
const xs = await XenstoreClient.connect({ transport: 'socket', timeoutMs: 120_000 });
try {
  // The key layout of xenstore-libxs.c: 100 children per node (see there).
  const paths = Array.from({ length: n }, (_, i) => `${base}/d${Math.floor(i / 100)}/k${i % 100}`);
  // Warm up the JIT and the connection (the C program has no such cost).
  for (let i = 0; i < 200; i++) await xs.write(`${base}-warm/k${i % 10}`, 'value');
  await Promise.all(Array.from({ length: 200 }, (_, i) => xs.read(`${base}-warm/k${i % 10}`)));
  await xs.rm(`${base}-warm`);

  const t0 = process.hrtime.bigint();
  for (const p of paths) await xs.write(p, 'value');
  const t1 = process.hrtime.bigint();
  const values = await Promise.all(paths.map((p) => xs.read(p)));
  const t2 = process.hrtime.bigint();
  // A tenth is enough for a per-request figure (and costs minutes less under TCG).
  const sequential = paths.filter((_, i) => i % 10 === 0);
  for (const p of sequential) await xs.read(p);
  const t3 = process.hrtime.bigint();
  if (values.some((v) => v !== 'value')) throw new Error('a pipelined read returned the wrong value');
  await xs.rm(base);
  process.stdout.write(`${t1 - t0} ${t2 - t1} ${((t3 - t2) * BigInt(n)) / BigInt(sequential.length)}\n`);
} finally {
  await xs.close();
}
