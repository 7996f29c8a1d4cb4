// Benchmark (issue 7 item 5): `txl create` against `xl create` in one lab boot, minimal kernel
// (lab/fixtures minikernel, 32 MiB, extra=stay): create-to-running latency of ten sequential creates
// (xl and txl interleaved, one create each in turn) and of ten concurrent creates, and the time from
// starting the create to the guest's first console line (xenconsoled's guest log), and for each tool
// the same guest with a disk and a vif against without (issue 7: devices must not slow a create), ten
// concurrent creates of guests with devices, txl against xl, and the floor under any txl command: Node
// alone (`node -e 0`) against xl create, sequential and concurrent.
// Prints medians and txl/xl ratios (the aim is at most 0.5) and writes bench/create-result.json. txl's host monitor
// (toolstack/lifecycle/README.md) is part of what is timed: the first txl create starts it.
// Usage: npx tsc -p tsconfig.build.json && labslot node dist/bench/create.js [4.17|4.20] [--runs N] [--no-write]
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { buildMinikernel } from '../lab/fixtures/index.js';
import { refreshBundleQuietly } from '../toolstack/cli/bundle.js';
import { bootLab, parseXenVersion, repoRoot, type LabMachine } from '../lab/index.js';
import { compare, formatComparison, median, summarize, timeWorkload, type Comparison, type Workload, type WorkloadTimes } from './harness.js';

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : 10;
const write = !args.includes('--no-write');
const xen = parseXenVersion(args.find((a, i) => /^\d+\.\d+$/.test(a) && args[i - 1] !== '--runs') ?? '4.17');

const repo = repoRoot();
const cfgDir = join(repo, '.cache', 'bench', 'create');
mkdirSync(cfgDir, { recursive: true });

/**
 * An xl.cfg for the minimal kernel that stays up until destroyed (teardown is outside the timing);
 * with `disk`, also a raw disk image (a loop device in dom0) and a vif on xenbr0.
 */
function config(kernel: string, name: string, disk?: string): string {
  const path = join(cfgDir, `${name}.cfg`);
  const devices = disk ? `disk = [ 'format=raw,vdev=xvda,access=rw,target=${disk}' ]\nvif = [ 'bridge=xenbr0' ]\n` : '';
  writeFileSync(path, `name = "${name}"\nkernel = "${kernel}"\nmemory = 32\nvcpus = 1\nextra = "stay"\non_poweroff = "destroy"\non_crash = "destroy"\n${devices}`);
  return path;
}

/** Destroys every bench guest with `by` (xl: the same clean-up after both tools' runs) and drops their console logs. */
const destroyAll = (by: 'xl' | 'txl' = 'xl'): string[] => ['sh', '-c', `for d in $(xl list | awk '$1 ~ /^bc-/ {print $1}'); do ${by} destroy $d; done; rm -f /var/log/xen/console/guest-bc-*.log; true`];

const tools = { xl: ['xl', 'create'], txl: ['txl', 'create'] } as const;
type Tool = keyof typeof tools;

function workload(kernel: string, tool: Tool, prefix: string, concurrency = 1): Workload {
  for (let c = 0; c < Math.max(concurrency, RUNS); c++) config(kernel, `bc-${tool}-${prefix}-${c}`);
  return {
    argv: (run, copy) => [...tools[tool], join(cfgDir, `bc-${tool}-${prefix}-${concurrency > 1 ? copy : run}.cfg`)],
    after: () => destroyAll(),
    concurrency,
  };
}

/**
 * Time from starting `TOOL create` to the guest's first console line in xenconsoled's log, measured in
 * dom0 with bash builtins only (EPOCHREALTIME, `read -t` as the sleep) so the poll costs no processes.
 */
async function firstLine(lab: LabMachine, tool: Tool, cfg: string, name: string): Promise<number> {
  const log = `/var/log/xen/console/guest-${name}.log`;
  const script = [
    `rm -f ${log}`,
    // A FIFO held open for writing by ourselves: `read -t` on it waits the whole timeout.
    'rm -f /tmp/bench-fifo; mkfifo /tmp/bench-fifo; exec 9<>/tmp/bench-fifo',
    's=${EPOCHREALTIME/./}',
    `${tools[tool].join(' ')} ${cfg} >/tmp/bench-first.out 2>&1 &`,
    'for i in $(seq 6000); do',
    `  if [[ -f ${log} ]] && IFS= read -r l < ${log} && [[ $l == *txl-minikernel:\\ hello* ]]; then e=\${EPOCHREALTIME/./}; echo "first $s $e"; break; fi`,
    '  read -t 0.02 -u 9',
    'done',
    'wait; cat /tmp/bench-first.out',
  ].join('\n');
  try {
    const r = await lab.exec(['bash', '-c', script], { timeoutMs: 300_000 });
    const m = /^first (\d+) (\d+)$/m.exec(r.stdout);
    if (!m) throw new Error(`bench: no console line from ${tool}'s ${name}:\n${r.stdout}${r.stderr}`);
    return (Number(m[2]) - Number(m[1])) / 1000;
  } finally {
    await lab.exec(destroyAll(), { timeoutMs: 300_000 });
  }
}

// dom0 runs bin/txl, which uses dist/bundle while it is fresh (toolstack/cli/bundle.ts).
const bundleWarning = await refreshBundleQuietly(repo);
if (bundleWarning) process.stderr.write(`bench: ${bundleWarning}\n`);
const kernel = await buildMinikernel();
const lab = await bootLab({ xen, onLog: (l) => process.stderr.write(`${l}\n`) });
const results: Record<string, unknown> = {};
try {
  await lab.exec(destroyAll(), { timeoutMs: 300_000 });
  // Warm-up: the first create of each tool pays for loading it from the disk image (and txl's monitor start).
  for (const tool of ['xl', 'txl'] as const) await timeWorkload(lab, { argv: () => [...tools[tool], config(kernel, `bc-${tool}-warm`)], after: () => destroyAll() }, 1);

  const comparisons: Comparison[] = [];
  const sequential = await compare(lab, `create, ${RUNS} sequential (one at a time, interleaved)`, workload(kernel, 'xl', 'seq'), workload(kernel, 'txl', 'seq'), RUNS);
  comparisons.push(sequential);
  process.stdout.write(`${formatComparison(sequential)}\n`);
  const concurrent = await compare(lab, `create, ${RUNS} concurrent (wall time of all)`, workload(kernel, 'xl', 'con', RUNS), workload(kernel, 'txl', 'con', RUNS), 1);
  comparisons.push(concurrent);
  process.stdout.write(`${formatComparison(concurrent)}\n`);

  // Issue 7: guests with disks and vifs as fast to set up as guests without. Each tool against
  // itself: the same guest with a disk (loop device) and a vif on xenbr0, and without; each tool
  // destroys its own guests (its own device teardown).
  const devRuns = Math.max(3, Math.min(RUNS, 5));
  const devices: Record<Tool, Comparison> = {} as Record<Tool, Comparison>;
  for (const tool of ['xl', 'txl'] as const) {
    const image = `/tmp/bc-${tool}-dev.img`;
    await lab.exec(['sh', '-c', `truncate -s 16M ${image}`], { timeoutMs: 60_000 });
    const destroyOwn = (): string[] => destroyAll(tool);
    const plain: Workload = { argv: (run) => [...tools[tool], config(kernel, `bc-${tool}-nodev-${run}`)], after: destroyOwn };
    const withDevices: Workload = { argv: (run) => [...tools[tool], config(kernel, `bc-${tool}-dev-${run}`, image)], after: destroyOwn };
    devices[tool] = await compare(lab, `${tool} create with a disk and a vif vs without, ${devRuns} sequential`, plain, withDevices, devRuns);
    const d = devices[tool];
    process.stdout.write(`${d.name}: without ${median(d.reference.runMs).toFixed(0)} ms, with ${median(d.txl.runMs).toFixed(0)} ms (medians), ratio with/without = ${d.ratio.toFixed(2)}\n`);
  }

  // With devices, txl against xl: ten concurrent creates of guests with a disk (each its own image) and
  // a vif, so any serialisation of device set-up (a lock, a slow script) shows in the wall time.
  const devConcurrent: Record<Tool, Workload> = {} as Record<Tool, Workload>;
  for (const tool of ['xl', 'txl'] as const) {
    const images = Array.from({ length: RUNS }, (_, copy) => `/tmp/bc-${tool}-devcon-${copy}.img`);
    await lab.exec(['sh', '-c', `truncate -s 16M ${images.join(' ')}`], { timeoutMs: 60_000 });
    images.forEach((image, copy) => config(kernel, `bc-${tool}-devcon-${copy}`, image));
    // xl's block script can time out under this load (libxl kills it and the create fails): that is
    // a result to report, not a reason to stop the benchmark.
    devConcurrent[tool] = {
      argv: (_run, copy) => [...tools[tool], join(cfgDir, `bc-${tool}-devcon-${copy}.cfg`)], after: () => destroyAll(tool), concurrency: RUNS, tolerateFailures: true,
    };
  }
  const devicesConcurrent = await compare(lab, `create with a disk and a vif, ${RUNS} concurrent (wall time of all)`, devConcurrent.xl, devConcurrent.txl, 1);
  comparisons.push(devicesConcurrent);
  process.stdout.write(`${formatComparison(devicesConcurrent)}\n`);
  const failureLines = (times: WorkloadTimes): string[] => times.failures.map((f) => {
    const why = f.output.split('\n').find((l) => /error|timeout|failed/i.test(l)) ?? f.output.trim().split('\n').at(-1) ?? '';
    return `${f.argv.at(-1)}: exit ${f.status}: ${why.trim()}`;
  });
  for (const tool of ['xl', 'txl'] as const) {
    const times = tool === 'xl' ? devicesConcurrent.reference : devicesConcurrent.txl;
    if (times.failures.length) process.stdout.write(`  ${tool}: ${times.failures.length} of ${RUNS} creates failed:\n${failureLines(times).map((l) => `    ${l}\n`).join('')}`);
  }

  // The floor under any txl command: Node starting and exiting (`node -e 0`, no txl code at all),
  // against xl create, sequential and ten at once, interleaved like the rest. If Node alone is above
  // half of xl, the aim cannot be met by a txl that is a Node process.
  const node: Workload = { argv: () => ['node', '-e', '0'] };
  const floor = await compare(lab, `node -e 0 (Node alone, no txl) against xl create, ${RUNS} sequential`, workload(kernel, 'xl', 'floor'), node, RUNS);
  process.stdout.write(`${formatComparison(floor)}\n`);
  const floorConcurrent = await compare(lab, `node -e 0 against xl create, ${RUNS} concurrent`, workload(kernel, 'xl', 'floorcon', RUNS), { ...node, concurrency: RUNS }, 1);
  process.stdout.write(`${formatComparison(floorConcurrent)}\n`);

  const first: Record<Tool, number[]> = { xl: [], txl: [] };
  const firstRuns = Math.max(3, Math.min(RUNS, 5));
  for (let run = 0; run < firstRuns; run++) {
    for (const tool of ['xl', 'txl'] as const) {
      const name = `bc-${tool}-first-${run}`;
      first[tool].push(await firstLine(lab, tool, config(kernel, name), name));
    }
  }
  const firstRatio = median(first.txl) / median(first.xl);
  process.stdout.write(
    `time to first console line (median of ${firstRuns}): xl ${median(first.xl).toFixed(0)} ms, txl ${median(first.txl).toFixed(0)} ms, ratio txl/xl = ${firstRatio.toFixed(2)}\n`,
  );
  results[xen] = {
    sequential: { xl: summarize(sequential.reference), txl: summarize(sequential.txl), ratio: Number(sequential.ratio.toFixed(3)), xlMs: sequential.reference.runMs.map(Math.round), txlMs: sequential.txl.runMs.map(Math.round) },
    concurrent: {
      copies: RUNS, xlWallMs: Math.round(median(concurrent.reference.runMs)), txlWallMs: Math.round(median(concurrent.txl.runMs)), ratio: Number(concurrent.ratio.toFixed(3)),
      xlCopyMs: concurrent.reference.copyMs.map(Math.round), txlCopyMs: concurrent.txl.copyMs.map(Math.round),
    },
    firstConsoleLine: { runs: firstRuns, xlMs: first.xl.map(Math.round), txlMs: first.txl.map(Math.round), ratio: Number(firstRatio.toFixed(3)) },
    devicesSequentialRatio: Number((median(devices.txl.txl.runMs) / median(devices.xl.txl.runMs)).toFixed(3)),
    devicesConcurrent: {
      copies: RUNS, xlWallMs: Math.round(median(devicesConcurrent.reference.runMs)), txlWallMs: Math.round(median(devicesConcurrent.txl.runMs)), ratio: Number(devicesConcurrent.ratio.toFixed(3)),
      xlCopyMs: devicesConcurrent.reference.copyMs.map(Math.round), txlCopyMs: devicesConcurrent.txl.copyMs.map(Math.round),
      xlFailed: failureLines(devicesConcurrent.reference), txlFailed: failureLines(devicesConcurrent.txl),
    },
    nodeFloor: {
      sequential: { xlMs: floor.reference.runMs.map(Math.round), nodeMs: floor.txl.runMs.map(Math.round), ratio: Number(floor.ratio.toFixed(3)) },
      concurrent: { copies: RUNS, xlWallMs: Math.round(median(floorConcurrent.reference.runMs)), nodeWallMs: Math.round(median(floorConcurrent.txl.runMs)), ratio: Number(floorConcurrent.ratio.toFixed(3)) },
    },
    devicesVsNone: Object.fromEntries((['xl', 'txl'] as const).map((tool) => [tool, {
      runs: devRuns, withoutMs: devices[tool].reference.runMs.map(Math.round), withMs: devices[tool].txl.runMs.map(Math.round), ratio: Number(devices[tool].ratio.toFixed(3)),
    }])),
  };
  process.stdout.write(`aim (issue 7): txl/xl at most 0.5 for sequential and concurrent creates; measured ${sequential.ratio.toFixed(2)} and ${concurrent.ratio.toFixed(2)}\n`);
  process.stdout.write(`aim (issue 7): devices cost txl nothing (with/without near 1); measured txl ${devices.txl.ratio.toFixed(2)}, xl ${devices.xl.ratio.toFixed(2)}\n`);
  const devicesRatio = median(devices.txl.txl.runMs) / median(devices.xl.txl.runMs);
  process.stdout.write(`with a disk and a vif, txl/xl: ${devicesRatio.toFixed(2)} sequential, ${devicesConcurrent.ratio.toFixed(2)} for ${RUNS} concurrent\n`);
  process.stdout.write(`floor: Node alone (node -e 0) is ${floor.ratio.toFixed(2)}x an xl create sequentially and ${floorConcurrent.ratio.toFixed(2)}x for ${RUNS} concurrent; a Node process cannot go below that\n`);
} finally {
  await lab.shutdown();
}
if (write) {
  const record = {
    what: 'txl create vs xl create of lab/fixtures minikernel (32 MiB, 1 vcpu, extra=stay) in one lab boot; times in dom0 (bash EPOCHREALTIME)',
    machine: 'QEMU TCG, 2 vCPUs, dom0 1024 MiB; host 2 cores shared with other work (load average at the end below)',
    measuredAt: new Date().toISOString(),
    hostLoadAverage: loadavg().map((l) => Number(l.toFixed(2))),
    results,
  };
  writeFileSync(join(repo, 'bench', 'create-result.json'), `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write('wrote bench/create-result.json\n');
}
