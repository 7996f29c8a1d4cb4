// Benchmark (lab): txl's xenstore client against C libxenstore in the same dom0, same run.
//   1. 10,000 sequential writes (each waits for its reply): txl vs libxenstore.
//   2. 10,000 reads: txl pipelined (all in flight) vs libxenstore (one at a time, its only mode);
//      txl's sequential reads (over a tenth of the keys) are printed too.
// Prints ratios txl / libxenstore (< 1 means txl is faster). Boots the lab: run it under labslot:
//   npx tsc -p tsconfig.build.json && labslot node dist/bench/xenstore.js [4.17|4.20 ...]
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { bootLab, repoRoot } from '../lab/index.js';
import { median } from './harness.js';

const N = 10_000;

const repo = repoRoot();
const outDir = join(repo, '.cache', 'bench');
mkdirSync(outDir, { recursive: true });
const cBinary = join(outDir, 'xenstore-libxs');
execFileSync('gcc', ['-O2', '-Wall', '-o', cBinary, join(repo, 'bench', 'xenstore-libxs.c'), '-lxenstore'], { stdio: 'inherit' });

const ROUNDS = Number(process.env.TXL_BENCH_ROUNDS ?? 3);

const versions = (process.argv.slice(2).length ? process.argv.slice(2) : ['4.17', '4.20']) as ('4.17' | '4.20')[];
for (const xen of versions) {
  const lab = await bootLab({ xen });
  try {
    const run = async (argv: string[]): Promise<number[]> => {
      const r = await lab.exec(argv, { timeoutMs: 15 * 60_000 });
      if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
      return r.stdout.trim().split(/\s+/).map(Number);
    };
    // Rounds alternate libxenstore and txl so that a change in the host's load hits both alike.
    const c = { write: [] as number[], read: [] as number[] };
    const txl = { write: [] as number[], pipelined: [] as number[], sequential: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const [cWrite, cRead] = (await run([cBinary, String(N), `/txl-bench-c-${round}`])) as [number, number];
      const [tWrite, tPipelined, tSequential] = (await run(['node', join(repo, 'dist', 'bench', 'xenstore-dom0.js'), String(N), `/txl-bench-txl-${round}`])) as [number, number, number];
      process.stderr.write(`Xen ${xen} round ${round + 1}/${ROUNDS}: libxenstore write ${(cWrite / 1e9).toFixed(1)} s, read ${(cRead / 1e9).toFixed(1)} s; `
        + `txl write ${(tWrite / 1e9).toFixed(1)} s, pipelined read ${(tPipelined / 1e9).toFixed(1)} s, sequential read ${(tSequential / 1e9).toFixed(1)} s\n`);
      c.write.push(cWrite);
      c.read.push(cRead);
      txl.write.push(tWrite);
      txl.pipelined.push(tPipelined);
      txl.sequential.push(tSequential);
    }
    const us = (ns: number): string => `${(ns / N / 1000).toFixed(1)} us/op`;
    const ratio = (a: number[], b: number[]): string => `${(median(a) / median(b)).toFixed(2)} (rounds: ${a.map((x, i) => (x / b[i]!).toFixed(2)).join(', ')})`;
    process.stdout.write(
      `Xen ${xen} (QEMU TCG; only ratios are meaningful; medians of ${ROUNDS} alternating rounds)\n`
      + `  ${N} sequential writes: txl ${us(median(txl.write))}, libxenstore ${us(median(c.write))}, ratio txl/libxenstore = ${ratio(txl.write, c.write)}\n`
      + `  ${N} reads: txl pipelined ${us(median(txl.pipelined))}, libxenstore ${us(median(c.read))}, ratio txl pipelined/libxenstore = ${ratio(txl.pipelined, c.read)}\n`
      + `  (txl sequential reads ${us(median(txl.sequential))}, ratio txl sequential/libxenstore = ${ratio(txl.sequential, c.read)})\n`,
    );
  } finally {
    await lab.shutdown();
  }
}
