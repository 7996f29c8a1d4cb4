// Benchmark (lab): building a PV domain from Debian's kernel with a 64 MiB initrd, txl's builder against xl
// (libxl + libxenguest), same kernel, initrd, memory and command line, alternating runs in one dom0.
//   txl: `node dist/bench/build-dom0.js --keep --paused`: the whole process, and inside it the create
//        itself (executeCreate: load kernel and initrd, domain, xenstore, build, console, introduce),
//        timed apart from node's start-up, imports and opening privcmd/xenstored;
//   xl:  `xl create -p` (whole process: build, xenstore, console; left paused).
// Both leave the domain paused; it is destroyed untimed. One warm-up run each first (page cache, 9p).
// Prints ratios (txl / xl; aim: <= 1) measured in the same run and, with --write, records them with the
// host's load average in bench/build-result.json (one entry per Xen version, others kept). Usage:
//   npx tsc -p tsconfig.build.json && labslot node dist/bench/build.js [4.17|4.20 ...] [--runs N] [--write] [--files-on-9p]
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bootLab, repoRoot } from '../lab/index.js';
import { debianKernel } from '../domain-builder/testing/debian.js';
import { median } from './harness.js';

// By default both tools read the kernel and initrd from dom0's tmpfs (copied there untimed), so that the
// builders are compared, not 9p. Over the checkout's 9p share xl was the slower (first 4.17 run, run 1:
// xl create -p 251 s, txl 163 s), probably because libxenguest mmaps the files (xc_dom_malloc_filemap) and
// pulls them in page by page, each fault a round trip to the host, where node reads them in large chunks.
// --files-on-9p reads them from the checkout as the tests do.
const filesOn9p = process.argv.includes('--files-on-9p');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 5;
const write = process.argv.includes('--write');
const MEMORY_MIB = 256;
const repo = repoRoot();
const work = join(repo, '.cache', 'bench', 'build');
const resultPath = join(repo, 'bench', 'build-result.json');
mkdirSync(work, { recursive: true });

// A 64 MiB initrd: a tiny cpio archive (one /init that powers off) gzipped, then incompressible padding
// so that neither builder can shortcut the copy.
function makeInitrd(): string {
  const path = join(work, 'initrd-64m');
  if (existsSync(path)) return path;
  const init = Buffer.from('#!/bin/sh\npoweroff -f\n');
  const header = (name: string, mode: number, size: number) => {
    const f = (n: number) => n.toString(16).padStart(8, '0');
    return Buffer.from(`070701${f(1)}${f(mode)}${f(0)}${f(0)}${f(1)}${f(0)}${f(size)}${f(0)}${f(0)}${f(0)}${f(0)}${f(name.length + 1)}${f(0)}${name}\0`, 'latin1');
  };
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const cpio = Buffer.concat([pad(header('init', 0o100755, init.length)), pad(init), pad(header('TRAILER!!!', 0, 0))]);
  const gz = gzipSync(cpio);
  writeFileSync(path, Buffer.concat([gz, Buffer.alloc(512 - (gz.length % 512)), randomBytes((64 << 20) - gz.length - (512 - (gz.length % 512)))]));
  return path;
}

/** Medians of per-run {name: ms} records, keyed like the records. */
function medians(records: readonly Record<string, number>[]): Record<string, number> {
  const keys = [...new Set(records.flatMap((r) => Object.keys(r)))];
  return Object.fromEntries(keys.map((k) => [k, Math.round(median(records.map((r) => r[k] ?? 0)))]));
}

const kernel = debianKernel();
const initrd = makeInitrd();
const versions = (process.argv.slice(2).filter((a) => a === '4.17' || a === '4.20') as ('4.17' | '4.20')[]);
const results: Record<string, unknown> = {};
const load = (): number[] => loadavg().map((l) => Number(l.toFixed(2)));
for (const xen of versions.length ? versions : (['4.17', '4.20'] as const)) {
  const loadAtStart = load();
  const lab = await bootLab({ xen, onLog: (l) => process.stderr.write(`${l}\n`) });
  try {
    const run = async (argv: string[], timeoutMs = 600_000): Promise<string> => {
      const r = await lab.exec(argv, { timeoutMs });
      if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
      return r.stdout.trim();
    };
    let [k, r] = [kernel, initrd];
    if (!filesOn9p) {
      [k, r] = ['/tmp/bench-build/vmlinuz', '/tmp/bench-build/initrd-64m'];
      await run(['sh', '-c', `mkdir -p /tmp/bench-build && cp ${kernel} ${k} && cp ${initrd} ${r}`]);
    }
    const cfg = `name="xlbench"\nkernel="${k}"\nramdisk="${r}"\nmemory=${MEMORY_MIB}\nvcpus=1\nextra="console=hvc0"\n`;
    await run(['sh', '-c', `cat > /tmp/xlbench.cfg <<'EOF'\n${cfg}EOF`]);
    // Timed in dom0 (date +%s%N around the process), not across the agent channel.
    const xlOnce = async (): Promise<number> => {
      const ns = await run(['sh', '-c', 's=$(date +%s%N); xl create -p /tmp/xlbench.cfg >/tmp/bench.out 2>&1 || { cat /tmp/bench.out; exit 1; }; e=$(date +%s%N); echo $((e-s))']);
      await run(['xl', 'destroy', 'xlbench']);
      return Number(ns) / 1e6;
    };
    const txlOnce = async (): Promise<{ wholeMs: number; createMs: number; ops: Record<string, number>; steps: Record<string, number> }> => {
      // --keep --paused: like `xl create -p`, the timed process leaves the built domain paused (destroyed untimed below).
      const t = await run(['sh', '-c', `s=$(date +%s%N); node ${join(repo, 'dist/bench/build-dom0.js')} --kernel ${k} --ramdisk ${r} --memory ${MEMORY_MIB} --name txlbench --keep --paused >/tmp/txl.json || exit 1; e=$(date +%s%N); echo $((e-s)); cat /tmp/txl.json`]);
      const [ns, json] = t.split('\n');
      const result = JSON.parse(json ?? '{}') as {
        ok?: boolean; createNs?: string; error?: unknown; ops?: Record<string, number>; buildSteps?: Record<string, number>;
        startup?: { importedMs: number; openedMs: number };
      };
      if (!result.ok) throw new Error(`txl build failed: ${JSON.stringify(result.error)}`);
      await run(['sh', '-c', 'xl destroy txlbench || txl destroy txlbench']);
      const startup = result.startup ? { 'node start-up + imports': result.startup.importedMs, 'open privcmd + xenstored': result.startup.openedMs - result.startup.importedMs } : {};
      return { wholeMs: Number(ns) / 1e6, createMs: Number(result.createNs) / 1e6, ops: { ...startup, ...result.ops }, steps: result.buildSteps ?? {} };
    };
    // Warm-up (untimed): the first run of each reads the kernel, the initrd and node's files into dom0's page cache.
    await xlOnce();
    await txlOnce();
    const txlWhole: number[] = [];
    const txlCreate: number[] = [];
    const ops: Record<string, number>[] = [];
    const steps: Record<string, number>[] = [];
    const xl: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = await txlOnce();
      txlWhole.push(t.wholeMs);
      txlCreate.push(t.createMs);
      ops.push(t.ops);
      steps.push(t.steps);
      xl.push(await xlOnce());
      process.stderr.write(`bench/build ${xen} run ${i + 1}/${RUNS}: txl ${t.wholeMs.toFixed(0)} ms (create ${t.createMs.toFixed(0)} ms), xl ${xl.at(-1)!.toFixed(0)} ms\n`);
    }
    const ratioWhole = median(txlWhole) / median(xl);
    const ratioCreate = median(txlCreate) / median(xl);
    const startup = txlWhole.map((w, i) => w - txlCreate[i]!);
    process.stdout.write(
      `Xen ${xen} (QEMU TCG; only ratios are meaningful): Debian ${kernel.split('/').pop()}, 64 MiB initrd, ${MEMORY_MIB} MiB guest, median of ${RUNS}, files ${filesOn9p ? 'on 9p' : 'in dom0 tmpfs'}\n`
      + `  xl create -p ${median(xl).toFixed(0)} ms\n`
      + `  txl whole process ${median(txlWhole).toFixed(0)} ms: ratio txl/xl = ${ratioWhole.toFixed(2)}\n`
      + `  txl create in-process (executeCreate) ${median(txlCreate).toFixed(0)} ms: ratio txl/xl = ${ratioCreate.toFixed(2)}`
      + ` (node start-up, imports, privcmd/xenstored open and exit: ${median(startup).toFixed(0)} ms)\n`
      + `  txl start-up and create ops (median ms): ${JSON.stringify(medians(ops))}\n  txl build steps (median ms): ${JSON.stringify(medians(steps))}\n`,
    );
    results[filesOn9p ? `${xen} files on 9p` : xen] = {
      files: filesOn9p ? 'read from the checkout over 9p' : 'read from dom0 tmpfs (copied there untimed)',
      measuredAt: new Date().toISOString(),
      // The host's 1/5/15-minute load averages (2 cores): other QEMUs running beside this one slow both tools.
      hostLoadAverage: { atStart: loadAtStart, atEnd: load() },
      runs: RUNS,
      xlMs: xl.map(Math.round),
      txlWholeMs: txlWhole.map(Math.round),
      txlCreateMs: txlCreate.map(Math.round),
      medianXlMs: Math.round(median(xl)),
      medianTxlWholeMs: Math.round(median(txlWhole)),
      medianTxlCreateMs: Math.round(median(txlCreate)),
      medianTxlOutsideCreateMs: Math.round(median(startup)),
      ratioWhole: Number(ratioWhole.toFixed(3)),
      ratioCreate: Number(ratioCreate.toFixed(3)),
      txlStartupAndOpsMedianMs: medians(ops),
      txlBuildStepsMedianMs: medians(steps),
    };
  } finally {
    await lab.shutdown();
  }
}
if (write) {
  const previous = existsSync(resultPath) ? (JSON.parse(readFileSync(resultPath, 'utf8')) as { results?: Record<string, unknown> }) : {};
  const record = {
    what: `txl's builder (node dist/bench/build-dom0.js --paused) vs xl create -p: Debian's ${kernel.split('/').pop()} (bzImage, xz), 64 MiB initrd, ${MEMORY_MIB} MiB, 1 vcpu; times in dom0 (date +%s%N); ratio = txl/xl medians`,
    machine: 'QEMU TCG, 2 vCPUs, QEMU 2048 MiB, dom0 1024 MiB; host 2 cores shared with other work (load averages per version)',
    results: { ...(previous.results ?? {}), ...results },
  };
  writeFileSync(resultPath, `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write('wrote bench/build-result.json\n');
}
