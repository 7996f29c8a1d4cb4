// Benchmark: how long `txl --version` takes to start, as a ratio to a bare `node -e 0`, in the same run.
// Runs are interleaved (node, txl, node, txl...) so a busy machine slows both alike; medians are compared.
// Also times what the CLI's startup is made of (loading yargs, loading the command list) to show where
// time goes. Usage: npx tsc -p tsconfig.build.json && node dist/bench/cli-startup.js [RUNS]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const runs = Number(process.argv[2] ?? 40);
const here = dirname(fileURLToPath(import.meta.url));
// Works from dist/bench/ (built) and finds the checkout's bin/txl and dist/.
const repo = [join(here, '..', '..'), join(here, '..')].find((dir) => existsSync(join(dir, 'bin', 'txl')));
if (!repo) throw new Error('cannot find the txl checkout (bin/txl) above this file');
const dist = join(repo, 'dist');
if (!existsSync(join(dist, 'toolstack', 'cli', 'entry.js'))) throw new Error("txl is not built: run 'npx tsc -p tsconfig.build.json' first");

interface Case {
  readonly label: string;
  readonly argv: readonly string[];
}

const cases: readonly Case[] = [
  { label: 'node -e 0', argv: ['-e', '0'] },
  { label: 'txl --version', argv: [join(repo, 'bin', 'txl'), '--version'] },
  { label: 'import yargs only', argv: ['--input-type=module', '-e', "await import('yargs')"] },
  { label: 'import the command list', argv: ['--input-type=module', '-e', `await import(${JSON.stringify(join(dist, 'toolstack', 'cli', 'commands', 'index.js'))})`] },
  { label: 'txl --help', argv: [join(repo, 'bin', 'txl'), '--help'] },
  { label: 'txl create -n ubuntu.cfg', argv: [join(repo, 'bin', 'txl'), 'create', '-n', join(repo, 'tests', 'corpus', 'ubuntu.cfg')] },
];

function timeOnce(c: Case): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, c.argv, { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${c.label} exited ${r.status}: ${r.stderr.toString()}`);
  return ms;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

// One warm-up round (disk cache), then interleaved measured rounds.
for (const c of cases) timeOnce(c);
const times = new Map<string, number[]>(cases.map((c) => [c.label, []]));
for (let i = 0; i < runs; i++) for (const c of cases) times.get(c.label)!.push(timeOnce(c));

const base = median(times.get('node -e 0')!);
process.stdout.write(`CLI startup, ${runs} interleaved runs each (median wall time; node ${process.version})\n`);
for (const c of cases) {
  const t = times.get(c.label)!;
  process.stdout.write(`  ${c.label.padEnd(28)} ${median(t).toFixed(1).padStart(7)} ms  (min ${Math.min(...t).toFixed(1)})  ratio to node -e 0: ${(median(t) / base).toFixed(2)}\n`);
}
const ratio = median(times.get('txl --version')!) / base;
process.stdout.write(`txl --version / node -e 0 = ${ratio.toFixed(2)} (aim: at most 2)\n`);
