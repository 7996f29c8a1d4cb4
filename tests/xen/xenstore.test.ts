// xenstore against the real C xenstored in the lab's dom0 (Xen 4.17 and 4.20):
//   1. the conformance suite (xenstore/conformance.ts), over the unix socket and over /dev/xen/xenbus;
//   2. `txl xenstore ...` against the xenstore-* tools, byte for byte (xenstore/compare-tools.ts).
// Each runs inside dom0 from the built dist/ (node dist/xenstore/...js), prints its progress on stderr
// and one JSON line of results on stdout, and exits by itself. Every run has its own time limit, well
// under the lab project's hook timeout: a hang fails the run with its progress so far, not the whole CI job.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../lab/index.js';
import { casesFor, type CaseResult } from '../../xenstore/conformance.js';
import { toolCases, type ToolComparison } from '../../xenstore/compare-tools.js';
import { labFor } from './lab-session.js';

const repo = repoRoot();
/**
 * Limit of one run in dom0. Seen here at host load 5-9: conformance 20-32 s (socket) and 48-139 s
 * (xenbus), tool comparison 353-461 s (three `txl` processes start in 45-80 s each over 9p).
 */
const RUN_LIMIT_MS = 12 * 60_000;

/** Runs a dom0 script and returns its JSON result line; a time-out or a crash says what the script printed. */
async function runInDom0<T>(xen: '4.17' | '4.20', argv: string[], what: string): Promise<T> {
  const lab = await labFor(xen);
  const started = Date.now();
  let run: { status: number; stdout: string; stderr: string };
  try {
    run = await lab.exec(argv, { timeoutMs: RUN_LIMIT_MS });
  } catch (error) {
    const details = (error as { details?: { stdout?: string; stderr?: string } }).details ?? {};
    throw new Error(
      `${what} on Xen ${xen} did not finish within ${RUN_LIMIT_MS / 60_000} min (killed after ${((Date.now() - started) / 1000).toFixed(0)} s): `
      + `${error instanceof Error ? error.message : String(error)}\n--- its stderr (last part) ---\n${details.stderr ?? ''}\n--- its stdout (last part) ---\n${details.stdout ?? ''}`,
    );
  }
  // One line per run, so a CI log shows where the time goes.
  const slowest = run.stderr.split('\n').map((l) => ({ l, ms: Number(/\((\d+) ms\)$/.exec(l)?.[1] ?? -1) })).filter((x) => x.ms >= 0).sort((a, b) => b.ms - a.ms).slice(0, 3);
  process.stderr.write(`xenstore lab: ${what} on Xen ${xen}: status ${run.status} in ${((Date.now() - started) / 1000).toFixed(1)} s; slowest: ${slowest.map((x) => x.l).join(' | ')}\n`);
  const line = run.stdout.trim().split('\n').filter((l) => l.startsWith('[')).at(-1);
  // Status 0 (all passed) or 1 (some failed, reported per case below); anything else is a crash.
  if (!line || (run.status !== 0 && run.status !== 1)) {
    throw new Error(`${what} on Xen ${xen} exited with status ${run.status} and ${line ? 'a result' : 'no result'}:\n${run.stdout}\n${run.stderr}`);
  }
  return JSON.parse(line) as T;
}

for (const xen of ['4.17', '4.20'] as const) {
  describe(`xenstore against C xenstored ${xen}`, () => {
    const conformance = new Map<string, CaseResult[]>();
    let comparisons: ToolComparison[] = [];

    // One hook per run: each gets the lab project's whole hook timeout (the first one also boots the lab).
    for (const transport of ['socket', 'xenbus'] as const) {
      beforeAll(async () => {
        conformance.set(transport, await runInDom0<CaseResult[]>(xen, ['node', join(repo, 'dist', 'xenstore', 'conformance.js'), transport, xen], `conformance over ${transport}`));
      });
    }
    beforeAll(async () => {
      comparisons = await runInDom0<ToolComparison[]>(xen, ['node', join(repo, 'dist', 'xenstore', 'compare-tools.js'), xen], 'tool comparison');
    });

    for (const transport of ['socket', 'xenbus'] as const) {
      for (const c of casesFor(transport, xen)) {
        it(`conformance over ${transport}: ${c.name}`, () => {
          const result = conformance.get(transport)?.find((r) => r.name === c.name);
          expect(result, 'case result').toBeDefined();
          expect(result!.error ?? 'ok').toBe('ok');
        });
      }
    }

    for (const tc of toolCases()) {
      it(`txl xenstore ${tc.mode} matches xenstore-${tc.mode}: ${tc.name}`, () => {
        const result = comparisons.find((r) => r.name === tc.name);
        expect(result, 'comparison result').toBeDefined();
        expect(result!.txl).toEqual(result!.c);
      });
    }
  });
}
