// Benchmark (lab): txl's xenstore client against C libxenstore in the same dom0, same run.
//   1. 10,000 sequential writes (each waits for its reply): txl vs libxenstore.
//   2. 10,000 reads: txl pipelined (all in flight) vs libxenstore (one at a time, its only mode);
//      txl's sequential reads are printed too.
// Prints ratios txl / libxenstore (< 1 means txl is faster). Usage:
//   npx tsc -p tsconfig.build.json && node dist/bench/xenstore.js [4.17|4.20 ...]
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { bootLab, repoRoot } from '../lab/index.js';

const N = 10_000;

const repo = repoRoot();
const outDir = join(repo, '.cache', 'bench');
mkdirSync(outDir, { recursive: true });
const cBinary = join(outDir, 'xenstore-libxs');
execFileSync('gcc', ['-O2', '-Wall', '-o', cBinary, join(repo, 'bench', 'xenstore-libxs.c'), '-lxenstore'], { stdio: 'inherit' });

const versions = (process.argv.slice(2).length ? process.argv.slice(2) : ['4.17', '4.20']) as ('4.17' | '4.20')[];
for (const xen of versions) {
  const lab = await bootLab({ xen });
  try {
    const run = async (argv: string[]): Promise<number[]> => {
      const r = await lab.exec(argv, { timeoutMs: 20 * 60_000 });
      if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
      return r.stdout.trim().split(/\s+/).map(Number);
    };
    const [cWrite, cRead] = (await run([cBinary, String(N), '/txl-bench-c'])) as [number, number];
    const [txlWrite, txlPipelined, txlSequential] = (await run(['node', join(repo, 'dist', 'bench', 'xenstore-dom0.js'), String(N), '/txl-bench-txl'])) as [number, number, number];
    const us = (ns: number): string => `${(ns / N / 1000).toFixed(1)} us/op`;
    process.stdout.write(
      `Xen ${xen} (QEMU TCG; only ratios are meaningful)\n`
      + `  ${N} sequential writes: txl ${us(txlWrite)}, libxenstore ${us(cWrite)}, ratio txl/libxenstore = ${(txlWrite / cWrite).toFixed(2)}\n`
      + `  ${N} reads: txl pipelined ${us(txlPipelined)}, libxenstore ${us(cRead)}, ratio txl pipelined/libxenstore = ${(txlPipelined / cRead).toFixed(2)}\n`
      + `  (txl sequential reads ${us(txlSequential)}, ratio txl sequential/libxenstore = ${(txlSequential / cRead).toFixed(2)})\n`,
    );
  } finally {
    await lab.shutdown();
  }
}
