// The harness's pure parts: medians, the dom0 timing script, parsing its output.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import type { LabMachine } from '../lab/index.js';
import { median, parseTimings, timeWorkload, timingScript } from './harness.js';

/** A LabMachine whose exec runs the command on this host (only exec is used by timeWorkload). */
const hostLab = {
  exec: async (argv: string[]) => {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  },
} as unknown as LabMachine;

describe('bench harness', () => {
  it('takes medians of odd and even lists', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('writes one timed background job per copy and quotes arguments', () => {
    const script = timingScript([['xl', 'create', '/a b.cfg'], ['true']]);
    expect(script).toContain("xl create '/a b.cfg' >/tmp/bench-out.0");
    expect(script).toContain('echo "copy 1 $s $e $st"');
    expect(script.trim().endsWith('wait')).toBe(true);
  });

  it('parses timings and refuses missing copies', () => {
    expect(parseTimings('copy 1 10 30 0\ncopy 0 5 25 2\n', 2)).toEqual([
      { startUs: 5, endUs: 25, status: 2 },
      { startUs: 10, endUs: 30, status: 0 },
    ]);
    expect(() => parseTimings('copy 0 5 25 0\n', 2)).toThrow(/expected 2 timing lines/);
  });

  it('runs the timing script for real in bash', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync('bash', ['-c', timingScript([['sleep', '0.05'], ['sh', '-c', 'exit 4']])], { encoding: 'utf8' });
    const t = parseTimings(out, 2);
    expect(t[0]!.endUs - t[0]!.startUs).toBeGreaterThanOrEqual(45_000);
    expect(t[1]!.status).toBe(4);
  });

  it('stops on a failed copy, or records it with its output when the workload tolerates failures', async () => {
    const argv = (_run: number, copy: number): string[] => (copy === 1 ? ['sh', '-c', 'echo "libxl: error: block add because of timeout"; exit 3'] : ['true']);
    await expect(timeWorkload(hostLab, { argv, concurrency: 3 }, 1)).rejects.toThrow(/exited 3:\nlibxl: error: block add because of timeout/);
    const t = await timeWorkload(hostLab, { argv, concurrency: 3, tolerateFailures: true }, 1);
    expect(t.copyMs).toHaveLength(3);
    expect(t.failures).toEqual([{ argv: argv(0, 1), status: 3, output: 'libxl: error: block add because of timeout\n' }]);
    expect((await timeWorkload(hostLab, { argv: () => ['true'], concurrency: 2 }, 2)).failures).toEqual([]);
  });
});
