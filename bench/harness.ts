// Benchmark harness for the lab: times workloads inside one booted dom0 (the reference tool and txl in
// the same boot, interleaved) and prints ratios. Only ratios mean anything under QEMU TCG.
import type { LabMachine } from '../lab/index.js';

/** One timed command in dom0, with untimed set-up and clean-up around it. */
export interface Workload {
  /** The timed command (argv in dom0). Run `concurrency` times at once when that is above 1. */
  readonly argv: (run: number, copy: number) => string[];
  /** Untimed, before each run (e.g. remove a previous domain). */
  readonly before?: (run: number) => string[];
  /** Untimed, after each run (e.g. `xl destroy`). */
  readonly after?: (run: number) => string[];
  /** How many copies start together in one run (default 1). */
  readonly concurrency?: number;
  /**
   * Record a copy that exits non-zero (in WorkloadTimes.failures, with its output) instead of stopping
   * the benchmark: for loads where the reference tool itself is expected to give up (e.g. xl's hotplug
   * scripts timing out under ten concurrent creates).
   */
  readonly tolerateFailures?: boolean;
}

/** A copy that exited non-zero in a workload that tolerates failures. */
export interface CopyFailure {
  readonly argv: readonly string[];
  readonly status: number;
  /** What it printed (stdout and stderr). */
  readonly output: string;
}

/** Timings of one workload: each run's wall time and, for concurrent runs, each copy's. */
export interface WorkloadTimes {
  /** Wall time of each run (all copies), milliseconds. */
  readonly runMs: readonly number[];
  /** Time of every single copy, milliseconds. */
  readonly copyMs: readonly number[];
  /** Copies that failed (only with tolerateFailures; otherwise a failure throws). */
  readonly failures: readonly CopyFailure[];
}

/** Median of a list (NaN when empty). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The dom0 script that runs `copies` commands at once and prints, per copy, its start and end
 * (bash's $EPOCHREALTIME, microseconds) and status. Timing happens in dom0, not across the channel.
 */
export function timingScript(copies: readonly string[][]): string {
  const lines = copies.map((argv, i) =>
    `( s=\${EPOCHREALTIME/./}; ${argv.map(shellQuote).join(' ')} >/tmp/bench-out.${i} 2>&1; st=$?; e=\${EPOCHREALTIME/./}; echo "copy ${i} $s $e $st" ) &`);
  return [...lines, 'wait'].join('\n');
}

/** Parses timingScript's output into [start, end, status] per copy (microseconds). */
export function parseTimings(text: string, copies: number): { startUs: number; endUs: number; status: number }[] {
  const out: { startUs: number; endUs: number; status: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^copy (\d+) (\d+) (\d+) (\d+)$/.exec(line.trim());
    if (m) out[Number(m[1])] = { startUs: Number(m[2]), endUs: Number(m[3]), status: Number(m[4]) };
  }
  if (out.length !== copies || out.some((t) => t === undefined)) throw new Error(`bench: expected ${copies} timing lines, got:\n${text}`);
  return out;
}

async function must(lab: LabMachine, argv: string[], timeoutMs: number): Promise<string> {
  const r = await lab.exec(argv, { timeoutMs });
  if (r.status !== 0) throw new Error(`bench: '${argv.join(' ')}' exited ${r.status}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Runs `workload` `runs` times in `lab`; a copy that fails stops the benchmark with its output. */
export async function timeWorkload(lab: LabMachine, workload: Workload, runs: number, timeoutMs = 600_000): Promise<WorkloadTimes> {
  const runMs: number[] = [];
  const copyMs: number[] = [];
  const failures: CopyFailure[] = [];
  const n = workload.concurrency ?? 1;
  for (let run = 0; run < runs; run++) {
    if (workload.before) await lab.exec(workload.before(run), { timeoutMs });
    try {
      const copies = Array.from({ length: n }, (_, copy) => workload.argv(run, copy));
      const text = await must(lab, ['bash', '-c', timingScript(copies)], timeoutMs);
      const timings = parseTimings(text, n);
      for (const [copy, t] of timings.entries()) {
        if (t.status === 0) continue;
        const out = await lab.exec(['cat', `/tmp/bench-out.${copy}`]);
        if (!workload.tolerateFailures) throw new Error(`bench: '${copies[copy]!.join(' ')}' exited ${t.status}:\n${out.stdout}`);
        failures.push({ argv: copies[copy]!, status: t.status, output: out.stdout });
      }
      runMs.push((Math.max(...timings.map((t) => t.endUs)) - Math.min(...timings.map((t) => t.startUs))) / 1000);
      for (const t of timings) copyMs.push((t.endUs - t.startUs) / 1000);
    } finally {
      if (workload.after) await lab.exec(workload.after(run), { timeoutMs });
    }
  }
  return { runMs, copyMs, failures };
}

/** A reference-vs-txl comparison measured in one boot. */
export interface Comparison {
  readonly name: string;
  readonly reference: WorkloadTimes;
  readonly txl: WorkloadTimes;
  /** median(txl run) / median(reference run): below 1 means txl is faster. */
  readonly ratio: number;
}

/**
 * Times `reference` and `txl` alternately (reference run, txl run, ...) so drift in the emulated
 * machine's speed hits both alike; returns the medians' ratio.
 */
export async function compare(lab: LabMachine, name: string, reference: Workload, txl: Workload, runs: number): Promise<Comparison> {
  const ref: WorkloadTimes[] = [];
  const ours: WorkloadTimes[] = [];
  for (let run = 0; run < runs; run++) {
    ref.push(await timeWorkload(lab, { ...reference, argv: (_r, c) => reference.argv(run, c) }, 1));
    ours.push(await timeWorkload(lab, { ...txl, argv: (_r, c) => txl.argv(run, c) }, 1));
  }
  const merge = (list: WorkloadTimes[]): WorkloadTimes => ({ runMs: list.flatMap((t) => t.runMs), copyMs: list.flatMap((t) => t.copyMs), failures: list.flatMap((t) => t.failures) });
  const r = merge(ref);
  const t = merge(ours);
  return { name, reference: r, txl: t, ratio: median(t.runMs) / median(r.runMs) };
}

/** One line per comparison: medians and the ratio. */
export function formatComparison(c: Comparison): string {
  const f = (ms: number): string => `${ms.toFixed(0)} ms`;
  return `${c.name}: reference ${f(median(c.reference.runMs))}, txl ${f(median(c.txl.runMs))} (median of ${c.reference.runMs.length}), ratio txl/reference = ${c.ratio.toFixed(2)}`;
}

/** Summary of one workload's times: median, min, max of runs and copies. */
export function summarize(t: WorkloadTimes): { runs: number; medianRunMs: number; minRunMs: number; maxRunMs: number; medianCopyMs: number } {
  return {
    runs: t.runMs.length,
    medianRunMs: Math.round(median(t.runMs)),
    minRunMs: Math.round(Math.min(...t.runMs)),
    maxRunMs: Math.round(Math.max(...t.runMs)),
    medianCopyMs: Math.round(median(t.copyMs)),
  };
}
