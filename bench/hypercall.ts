// Benchmark (lab): txl's hypercall path against libxenctrl, and `txl list` against `xl list`.
//   1. 10,000 getdomaininfo calls in one process: txl (koffi + privcmd) vs a C loop over libxenctrl.
//   2. `txl list` vs `xl list`, 50 runs each (whole processes: start-up included).
// Prints ratios (txl / reference) measured in the same dom0 in the same run. Usage:
//   npm run build && labslot node dist/bench/hypercall.js [4.17|4.20 ...] [--no-write]
// and writes bench/hypercall-result.json (with the host's load average: runs share 2 cores).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { refreshBundleQuietly } from '../toolstack/cli/bundle.js';
import { bootLab, repoRoot } from '../lab/index.js';

const CALLS = 10_000;
const RUNS = 50;

const repo = repoRoot();
const outDir = join(repo, '.cache', 'bench');
mkdirSync(outDir, { recursive: true });
const xcBinary = join(outDir, 'xc-getinfo');
execFileSync('gcc', ['-O2', '-Wall', '-o', xcBinary, join(repo, 'bench', 'hypercall-xc.c'), '-ldl'], { stdio: 'inherit' });

// dom0 runs bin/txl, which uses dist/bundle while it is fresh (toolstack/cli/bundle.ts).
const bundleWarning = await refreshBundleQuietly(repo);
if (bundleWarning) process.stderr.write(`bench: ${bundleWarning}\n`);
const args = process.argv.slice(2);
const write = !args.includes('--no-write');
const named = args.filter((a) => a !== '--no-write');
const versions = (named.length ? named : ['4.17', '4.20']) as ('4.17' | '4.20')[];
const resultPath = join(repo, 'bench', 'hypercall-result.json');
// Results of other versions from earlier runs are kept (one version per run is the usual lab budget).
const results: Record<string, unknown> = existsSync(resultPath)
  ? ((JSON.parse(readFileSync(resultPath, 'utf8')) as { results?: Record<string, unknown> }).results ?? {})
  : {};
for (const xen of versions) {
  const lab = await bootLab({ xen });
  try {
    const run = async (argv: string[], timeoutMs = 1_800_000): Promise<string> => {
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
    results[xen] = {
      measuredAt: new Date().toISOString(),
      hostLoadAverage: loadavg().map((l) => Number(l.toFixed(2))),
      getdomaininfo: { calls: CALLS, txlUsPerCall: Number((txlNs / CALLS / 1000).toFixed(1)), libxenctrlUsPerCall: Number((xcNs / CALLS / 1000).toFixed(1)), ratio: Number((txlNs / xcNs).toFixed(2)) },
      list: { runs: RUNS, txlMsPerRun: Math.round(txlListNs / RUNS / 1e6), xlMsPerRun: Math.round(xlListNs / RUNS / 1e6), ratio: Number((txlListNs / xlListNs).toFixed(2)) },
    };
    if (write) {
      const record = {
        what: 'bench/hypercall: getdomaininfo in one process (txl privcmd backend vs a C loop over libxenctrl), and txl list vs xl list as whole processes; times in a lab dom0',
        machine: 'QEMU TCG, 2 vCPUs, dom0 1024 MiB; host 2 cores shared with other work (load average per version)',
        results,
      };
      writeFileSync(resultPath, `${JSON.stringify(record, null, 2)}\n`);
      process.stdout.write(`wrote ${resultPath}\n`);
    }
  } finally {
    await lab.shutdown();
  }
}
