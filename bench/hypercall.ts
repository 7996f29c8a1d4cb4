// Benchmark (lab): txl's hypercall path against libxenctrl, and `txl list` against `xl list`.
//   1. 10,000 getdomaininfo calls in one process: txl (koffi + privcmd) vs a C loop over libxenctrl.
//   2. `txl list` vs `xl list`, 50 runs each (whole processes: start-up included).
// Prints ratios (txl / reference) measured in the same dom0 in the same run. Usage:
//   npx tsc -p tsconfig.build.json && node dist/bench/hypercall.js [4.17|4.20 ...]
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { bootLab, repoRoot } from '../lab/index.js';

const CALLS = 10_000;
const RUNS = 50;

const repo = repoRoot();
const outDir = join(repo, '.cache', 'bench');
mkdirSync(outDir, { recursive: true });
const xcBinary = join(outDir, 'xc-getinfo');
execFileSync('gcc', ['-O2', '-Wall', '-o', xcBinary, join(repo, 'bench', 'hypercall-xc.c'), '-ldl'], { stdio: 'inherit' });

const versions = (process.argv.slice(2).length ? process.argv.slice(2) : ['4.17', '4.20']) as ('4.17' | '4.20')[];
for (const xen of versions) {
  const lab = await bootLab({ xen });
  try {
    const run = async (argv: string[], timeoutMs = 600_000): Promise<string> => {
      const r = await lab.exec(argv, { timeoutMs });
      if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
      return r.stdout.trim();
    };
    const txlNs = Number(await run(['node', join(repo, 'dist', 'bench', 'hypercall-dom0.js'), String(CALLS)]));
    const xcNs = Number(await run([xcBinary, String(CALLS)]));
    const loop = (cmd: string): string[] => ['sh', '-c', `s=$(date +%s%N); i=0; while [ $i -lt ${RUNS} ]; do ${cmd} >/dev/null || exit 1; i=$((i+1)); done; e=$(date +%s%N); echo $((e-s))`];
    const txlListNs = Number(await run(loop('txl list')));
    const xlListNs = Number(await run(loop('xl list')));
    const per = (ns: number, n: number): string => `${(ns / n / 1000).toFixed(1)} us`;
    process.stdout.write(
      `Xen ${xen} (QEMU TCG; only ratios are meaningful)\n`
      + `  getdomaininfo x${CALLS}: txl ${per(txlNs, CALLS)}/call, libxenctrl ${per(xcNs, CALLS)}/call, ratio txl/libxenctrl = ${(txlNs / xcNs).toFixed(2)}\n`
      + `  list x${RUNS}: txl list ${(txlListNs / RUNS / 1e6).toFixed(0)} ms/run, xl list ${(xlListNs / RUNS / 1e6).toFixed(0)} ms/run, ratio txl/xl = ${(txlListNs / xlListNs).toFixed(2)}\n`,
    );
  } finally {
    await lab.shutdown();
  }
}
