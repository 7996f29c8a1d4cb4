// Benchmark (lab): building a PV domain from Debian's kernel with a 64 MiB initrd, txl's builder against xl
// (libxl + libxenguest), same kernel, initrd, memory and command line, alternating runs in one dom0.
//   txl: `node dist/bench/build-dom0.js` (whole process) and its in-process create time;
//   xl:  `xl create -p` (whole process: build, xenstore, console; left paused) then `xl destroy`.
// Prints ratios (txl / xl; aim: <= 1) measured in the same run. Usage:
//   npx tsc -p tsconfig.build.json && node dist/bench/build.js [4.17|4.20 ...] [--runs N]
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bootLab, repoRoot } from '../lab/index.js';
import { debianKernel } from '../domain-builder/testing/debian.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 5;
const MEMORY_MIB = 256;
const repo = repoRoot();
const work = join(repo, '.cache', 'bench', 'build');
mkdirSync(work, { recursive: true });

// A 64 MiB initrd: a tiny cpio archive (one /init that powers off) gzipped, then incompressible padding
// so that neither builder can shortcut the copy.
function makeInitrd(): string {
  const path = join(work, 'initrd-64m');
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

const kernel = debianKernel();
const initrd = makeInitrd();
const versions = (process.argv.slice(2).filter((a) => a === '4.17' || a === '4.20') as ('4.17' | '4.20')[]);
for (const xen of versions.length ? versions : (['4.17', '4.20'] as const)) {
  const lab = await bootLab({ xen });
  try {
    const run = async (argv: string[], timeoutMs = 600_000): Promise<string> => {
      const r = await lab.exec(argv, { timeoutMs });
      if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
      return r.stdout.trim();
    };
    const cfg = `name="xlbench"\nkernel="${kernel}"\nramdisk="${initrd}"\nmemory=${MEMORY_MIB}\nvcpus=1\nextra="console=hvc0"\n`;
    await run(['sh', '-c', `cat > /tmp/xlbench.cfg <<'EOF'\n${cfg}EOF`]);
    const timed = (cmd: string) => ['sh', '-c', `s=$(date +%s%N); ${cmd} >/tmp/bench.out 2>&1 || { cat /tmp/bench.out; exit 1; }; e=$(date +%s%N); echo $((e-s))`];
    const txlWhole: number[] = [];
    const txlInProcess: number[] = [];
    const xl: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      // --keep --paused: like `xl create -p`, the timed process leaves the built domain paused (destroyed untimed below).
      const t = await run(['sh', '-c', `s=$(date +%s%N); node ${join(repo, 'dist/bench/build-dom0.js')} --kernel ${kernel} --ramdisk ${initrd} --memory ${MEMORY_MIB} --name txlbench --keep --paused >/tmp/txl.json || exit 1; e=$(date +%s%N); echo $((e-s)); cat /tmp/txl.json`]);
      const [ns, json] = t.split('\n');
      const result = JSON.parse(json ?? '{}') as { ok?: boolean; createNs?: string; error?: unknown };
      if (!result.ok) throw new Error(`txl build failed: ${JSON.stringify(result.error)}`);
      await run(['sh', '-c', 'xl destroy txlbench || txl destroy txlbench']);
      txlWhole.push(Number(ns));
      txlInProcess.push(Number(result.createNs));
      xl.push(Number(await run(timed('xl create -p /tmp/xlbench.cfg'))));
      await run(['xl', 'destroy', 'xlbench']);
    }
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    const ms = (ns: number) => `${(ns / 1e6).toFixed(0)} ms`;
    process.stdout.write(
      `Xen ${xen} (QEMU TCG; only ratios are meaningful): Debian ${kernel.split('/').pop()}, 64 MiB initrd, ${MEMORY_MIB} MiB guest, median of ${RUNS}\n`
      + `  txl build (whole process, node start-up included) ${ms(med(txlWhole))}, xl create -p ${ms(med(xl))}: ratio txl/xl = ${(med(txlWhole) / med(xl)).toFixed(2)}\n`
      + `  txl build (in-process executeCreate) ${ms(med(txlInProcess))}: ratio txl/xl = ${(med(txlInProcess) / med(xl)).toFixed(2)}\n`,
    );
  } finally {
    await lab.shutdown();
  }
}
