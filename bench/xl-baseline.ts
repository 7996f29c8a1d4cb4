// The reference baseline: `xl create` latency of the minimal PV kernel (lab/fixtures), ten sequential
// creates and ten concurrent ones, on each lab Xen version. Writes bench/xl-baseline.json (committed)
// so later txl runs have the reference numbers of the same machine kind; txl is compared in the same
// boot by bench/harness.ts `compare`. Usage:
//   npx tsc -p tsconfig.build.json && node dist/bench/xl-baseline.js [4.17|4.20 ...] [--runs N] [--no-write]
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { buildGuestFixtures } from '../lab/fixtures/index.js';
import { bootLab, parseXenVersion, repoRoot, type LabMachine, type XenVersion } from '../lab/index.js';
import { summarize, timeWorkload, type WorkloadTimes } from './harness.js';

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : 10;
const write = !args.includes('--no-write');
const versions = args.filter((a, i) => /^\d+\.\d+$/.test(a) && args[i - 1] !== '--runs').map(parseXenVersion);
const xens: readonly XenVersion[] = versions.length ? versions : ['4.17', '4.20'];

const repo = repoRoot();
const cfgDir = join(repo, '.cache', 'bench', 'xl-baseline');
mkdirSync(cfgDir, { recursive: true });

/** An xl.cfg for the minimal kernel that stays up until destroyed (so teardown is outside the timing). */
function config(kernel: string, name: string): string {
  const path = join(cfgDir, `${name}.cfg`);
  writeFileSync(path, `name = "${name}"\nkernel = "${kernel}"\nmemory = 32\nvcpus = 1\nextra = "stay"\non_poweroff = "destroy"\non_crash = "destroy"\n`);
  return path;
}

const destroyAll = ['sh', '-c', "for d in $(xl list | awk '$1 ~ /^blx-/ {print $1}'); do xl destroy $d; done; true"];

async function measure(lab: LabMachine, kernel: string): Promise<{ sequential: WorkloadTimes; concurrent: WorkloadTimes }> {
  for (let i = 0; i < RUNS; i++) config(kernel, `blx-seq-${i}`);
  for (let i = 0; i < RUNS; i++) config(kernel, `blx-con-${i}`);
  await lab.exec(destroyAll, { timeoutMs: 300_000 });
  // Warm-up: the first create pays for loading xl and its libraries from the disk image.
  await timeWorkload(lab, { argv: () => ['xl', 'create', config(kernel, 'blx-warm')], after: () => destroyAll }, 1);
  const sequential = await timeWorkload(lab, { argv: (run) => ['xl', 'create', join(cfgDir, `blx-seq-${run}.cfg`)], after: () => destroyAll }, RUNS);
  const concurrent = await timeWorkload(lab, { argv: (_run, copy) => ['xl', 'create', join(cfgDir, `blx-con-${copy}.cfg`)], after: () => destroyAll, concurrency: RUNS }, 1);
  return { sequential, concurrent };
}

const { minikernel } = await buildGuestFixtures({ xen: xens, onLog: (l) => process.stderr.write(`${l}\n`) });
const results: Record<string, unknown> = {};
for (const xen of xens) {
  const lab = await bootLab({ xen, onLog: (l) => process.stderr.write(`${l}\n`) });
  try {
    const { sequential, concurrent } = await measure(lab, minikernel);
    const seq = summarize(sequential);
    const con = summarize(concurrent);
    results[xen] = {
      sequential: { ...seq, runMs: sequential.runMs.map(Math.round) },
      concurrent: { copies: RUNS, wallMs: con.medianRunMs, medianCopyMs: con.medianCopyMs, copyMs: concurrent.copyMs.map(Math.round) },
    };
    process.stdout.write(
      `Xen ${xen}: xl create (minikernel, 32 MiB): ${RUNS} sequential: median ${seq.medianRunMs} ms (min ${seq.minRunMs}, max ${seq.maxRunMs}); `
      + `${RUNS} concurrent: all done in ${con.medianRunMs} ms, median per create ${con.medianCopyMs} ms\n`,
    );
  } finally {
    await lab.shutdown();
  }
  if (write) record();
}

/** Writes what was measured so far (after each version: a later failure keeps the earlier ones). */
function record(): void {
  const record = {
    what: 'xl create latency of lab/fixtures minikernel (memory 32 MiB, 1 vcpu, extra=stay), measured in dom0 with bash EPOCHREALTIME',
    machine: 'QEMU TCG, 2 vCPUs, dom0 1024 MiB; host 2 cores shared with other work (load average at the end below)',
    measuredAt: new Date().toISOString(),
    hostLoadAverage: loadavg().map((l) => Number(l.toFixed(2))),
    results,
  };
  writeFileSync(join(repo, 'bench', 'xl-baseline.json'), `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write('wrote bench/xl-baseline.json\n');
}
