// Benchmark: building a minimal Debian bookworm domU image with `txl image build` (mmdebstrap, mke2fs -d,
// no mount) against the classic recipe (dd a sparse file, mkfs.ext4, loop-mount, debootstrap into it,
// configure, unmount), with the same packages, size and warm package caches, in the same run.
// Prints build time and allocated size as ratios txl/classic (aims: time <= 0.7, allocated <= 1.1x used).
// Runs alternate (txl, classic, txl, ...) so both see the same host load; the host's load average and CPU
// pressure (/proc/pressure/cpu: share of time some task waited for a CPU) are recorded with the result in
// bench/image-result.json, with txl's time per build stage and the CPU seconds (user+sys) of each side.
// Needs root (the classic recipe loop-mounts). Usage:
//   npx tsc -p tsconfig.build.json && node dist/bench/image.js [--runs N]
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../lab/index.js';
import { executeBuild, loadRecipe, packagesOf, planBuild, SpawnRunner, defaultCacheRoot } from '../image-tools/index.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 1;
const runner = new SpawnRunner();
const work = join(repoRoot(), '.cache', 'bench', 'image');
mkdirSync(work, { recursive: true });

async function sh(script: string): Promise<string> {
  const r = await runner.run(['sh', '-ec', script]);
  if (r.status !== 0) throw new Error(`'${script.slice(0, 200)}' failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** Bytes the ext filesystem uses (block count - free blocks) x block size, read with dumpe2fs. */
async function fsUsedBytes(image: string): Promise<number> {
  const out = await sh(`dumpe2fs -h '${image}' 2>/dev/null`);
  const get = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(out)?.[1]);
  return (get('Block count') - get('Free blocks')) * get('Block size');
}

const recipeFile = join(work, 'benchimg.yaml');
writeFileSync(recipeFile, 'template: debian-bookworm\nname: benchimg\nhostname: benchimg\nsize: 2G\nroot:\n  passwordHash: "$6$benchsalt$0kQCiHldjG5kuj8v4yzRhjGa58r4Kq.bbzhE43OQbldhEO7AGV.3.DNU3G9BMAIW5y72HXigxRHEilIdGP80o0"\n');
const { recipe } = loadRecipe(recipeFile);
const packages = packagesOf(recipe);
const aptCache = join(defaultCacheRoot(), 'debian-bookworm');

type Run = { seconds: number; cpuSeconds: number; allocated: number; used: number; stageSeconds?: Record<string, number> };

/** CPU seconds (user + system) used by this process's finished children so far, from /proc/self/stat (cutime + cstime). */
function childCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  // After "(comm) ": state is field 3 (index 0 here), cutime field 16, cstime field 17; clock ticks of 1/100 s.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** "some avg60" of /proc/pressure/cpu: percentage of the last minute some runnable task waited for a CPU. */
function cpuPressure(): number | undefined {
  try {
    return Number(/some avg10=[\d.]+ avg60=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
}

async function txlRun(): Promise<Run> {
  const out = join(work, 'txl');
  rmSync(out, { recursive: true, force: true });
  const plan = planBuild(recipe, { outputDir: out, source: recipeFile });
  const cpu0 = childCpuSeconds();
  const t0 = process.hrtime.bigint();
  const r = await executeBuild(plan, { runner });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuSeconds = childCpuSeconds() - cpu0;
  return { seconds, cpuSeconds, allocated: r.allocatedBytes, used: await fsUsedBytes(r.outputs.image), stageSeconds: r.stageSeconds as Record<string, number> };
}

async function classicRun(): Promise<Run> {
  const dir = join(work, 'classic');
  const mnt = join(dir, 'mnt');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(mnt, { recursive: true });
  // debootstrap keeps its own cache folder: a hard-linked copy of txl's apt cache (same .debs, warm).
  const cache = join(work, 'debootstrap-cache');
  if (!existsSync(cache)) await sh(`cp -al '${aptCache}' '${cache}'`);
  const img = join(dir, 'benchimg.img');
  const cpu0 = childCpuSeconds();
  const t0 = process.hrtime.bigint();
  try {
    await sh(`dd if=/dev/zero of='${img}' bs=1 count=0 seek=2G 2>/dev/null && mkfs.ext4 -q -F '${img}' && mount -o loop '${img}' '${mnt}'`);
    await sh(`debootstrap --variant=minbase --include=${packages.join(',')} --cache-dir='${cache}' bookworm '${mnt}' ${recipe.mirror} > '${dir}/debootstrap.log' 2>&1`);
    // The same set-up txl does: host name, fstab, network, hvc0 getty, root password, kernel copied out.
    await sh(
      [
        `echo benchimg > '${mnt}/etc/hostname'`,
        `printf '/dev/xvda / ext4 errors=remount-ro 0 1\\n' > '${mnt}/etc/fstab'`,
        `printf 'auto lo\\niface lo inet loopback\\nallow-hotplug enX0\\niface enX0 inet dhcp\\n' > '${mnt}/etc/network/interfaces'`,
        `mkdir -p '${mnt}/etc/systemd/system/getty.target.wants'`,
        `ln -sf /lib/systemd/system/serial-getty@.service '${mnt}/etc/systemd/system/getty.target.wants/serial-getty@hvc0.service'`,
        `chroot '${mnt}' usermod -p "$(printf '%s' '${recipe.root.passwordHash}')" root`,
        `cp '${mnt}'/boot/vmlinuz-* '${dir}/vmlinuz' && cp '${mnt}'/boot/initrd.img-* '${dir}/initrd.img'`,
        `rm -f '${mnt}'/var/cache/apt/archives/*.deb`,
      ].join(' && '),
    );
  } finally {
    await runner.run(['umount', mnt]);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds, cpuSeconds: childCpuSeconds() - cpu0, allocated: statSync(img).blocks * 512, used: await fsUsedBytes(img) };
}

const mib = (b: number): string => `${(b / 1024 ** 2).toFixed(1)} MiB`;
const txl: Run[] = [];
const classic: Run[] = [];
const loadBefore = loadavg().map((l) => Number(l.toFixed(2)));
const pressure: { run: string; cpuPressureAvg60: number | undefined; loadAverage: number[] }[] = [];
const sample = (run: string): void => void pressure.push({ run, cpuPressureAvg60: cpuPressure(), loadAverage: loadavg().map((l) => Number(l.toFixed(2))) });
for (let i = 0; i < RUNS; i++) {
  txl.push(await txlRun());
  sample(`txl ${i + 1}`);
  classic.push(await classicRun());
  sample(`classic ${i + 1}`);
}
/** Median; the mean of the middle two for an even count. */
const med = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
// Each txl run is paired with the classic run right after it (same host load, roughly): per-pair ratios.
const pairRatios = txl.map((r, i) => Number((r.seconds / classic[i]!.seconds).toFixed(3)));
const summary = (rs: Run[]): Omit<Run, 'stageSeconds'> => ({ seconds: med(rs.map((r) => r.seconds)), cpuSeconds: med(rs.map((r) => r.cpuSeconds)), allocated: med(rs.map((r) => r.allocated)), used: med(rs.map((r) => r.used)) });
const t = summary(txl);
const c = summary(classic);
process.stdout.write(
  `Debian bookworm minbase + ${packages.length} packages, 2 GiB ext4, warm package caches, median of ${RUNS} (2 shared cores: only ratios are meaningful)\n` +
    `  txl image build: ${t.seconds.toFixed(1)} s (${t.cpuSeconds.toFixed(1)} s CPU), allocated ${mib(t.allocated)}, fs used ${mib(t.used)} (allocated/used ${(t.allocated / t.used).toFixed(2)})\n` +
    `  classic (dd + mkfs + loop mount + debootstrap): ${c.seconds.toFixed(1)} s (${c.cpuSeconds.toFixed(1)} s CPU), allocated ${mib(c.allocated)}, fs used ${mib(c.used)} (allocated/used ${(c.allocated / c.used).toFixed(2)})\n` +
    `  ratios txl/classic: time ${(t.seconds / c.seconds).toFixed(2)} (aim <= 0.7; per pair ${pairRatios.join(', ')}), CPU ${(t.cpuSeconds / c.cpuSeconds).toFixed(2)}, allocated ${(t.allocated / c.allocated).toFixed(2)}\n` +
    `  host: load average ${loadBefore.join(' ')} before; after each run: ${pressure.map((p) => `${p.run} load ${p.loadAverage[0]} cpu-pressure ${p.cpuPressureAvg60 ?? '?'}%`).join(', ')}\n`,
);
const record = {
  what: `txl image build vs the classic recipe (dd sparse + mkfs.ext4 + loop mount + debootstrap + set-up), Debian bookworm minbase + ${packages.length} packages, 2 GiB ext4, warm package caches, alternating runs, medians`,
  machine: 'host with 2 cores shared with other work (QEMU labs): see hostLoad; only the ratios are meaningful',
  measuredAt: new Date().toISOString(),
  runs: RUNS,
  hostLoad: { loadAverageBefore: loadBefore, afterEachRun: pressure },
  txl: { ...t, runs: txl },
  classic: { ...c, runs: classic },
  timeRatio: Number((t.seconds / c.seconds).toFixed(3)),
  timeRatioPerPair: pairRatios,
  cpuRatio: Number((t.cpuSeconds / c.cpuSeconds).toFixed(3)),
  allocatedRatio: Number((t.allocated / c.allocated).toFixed(3)),
  txlAllocatedOverUsed: Number((t.allocated / t.used).toFixed(3)),
};
writeFileSync(join(repoRoot(), 'bench', 'image-result.json'), `${JSON.stringify(record, null, 2)}\n`);
process.stdout.write(`${JSON.stringify({ bench: 'image', runs: RUNS, txl: t, classic: c, timeRatio: record.timeRatio, cpuRatio: record.cpuRatio, allocatedRatio: record.allocatedRatio })}\nwrote bench/image-result.json\n`);
