// Benchmark: building a minimal Debian bookworm domU image with `txl image build` (mmdebstrap, mke2fs -d,
// no mount) against the classic recipe (dd a sparse file, mkfs.ext4, loop-mount, debootstrap into it,
// configure, unmount), with the same packages, size and warm package caches, in the same run.
// Prints build time and allocated size as ratios txl/classic (aims: time <= 0.7, allocated <= 1.1x used).
// Needs root (the classic recipe loop-mounts). Usage:
//   npx tsc -p tsconfig.build.json && node dist/bench/image.js [--runs N]
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

async function txlRun(): Promise<{ seconds: number; allocated: number; used: number }> {
  const out = join(work, 'txl');
  rmSync(out, { recursive: true, force: true });
  const plan = planBuild(recipe, { outputDir: out, source: recipeFile });
  const t0 = process.hrtime.bigint();
  const r = await executeBuild(plan, { runner });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds, allocated: r.allocatedBytes, used: await fsUsedBytes(r.outputs.image) };
}

async function classicRun(): Promise<{ seconds: number; allocated: number; used: number }> {
  const dir = join(work, 'classic');
  const mnt = join(dir, 'mnt');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(mnt, { recursive: true });
  // debootstrap keeps its own cache folder: a hard-linked copy of txl's apt cache (same .debs, warm).
  const cache = join(work, 'debootstrap-cache');
  if (!existsSync(cache)) await sh(`cp -al '${aptCache}' '${cache}'`);
  const img = join(dir, 'benchimg.img');
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
  return { seconds, allocated: statSync(img).blocks * 512, used: await fsUsedBytes(img) };
}

const mib = (b: number): string => `${(b / 1024 ** 2).toFixed(1)} MiB`;
const txl: { seconds: number; allocated: number; used: number }[] = [];
const classic: typeof txl = [];
for (let i = 0; i < RUNS; i++) {
  txl.push(await txlRun());
  classic.push(await classicRun());
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const t = { seconds: med(txl.map((r) => r.seconds)), allocated: med(txl.map((r) => r.allocated)), used: med(txl.map((r) => r.used)) };
const c = { seconds: med(classic.map((r) => r.seconds)), allocated: med(classic.map((r) => r.allocated)), used: med(classic.map((r) => r.used)) };
process.stdout.write(
  `Debian bookworm minbase + ${packages.length} packages, 2 GiB ext4, warm package caches, median of ${RUNS} (2 shared cores: only ratios are meaningful)\n` +
    `  txl image build: ${t.seconds.toFixed(1)} s, allocated ${mib(t.allocated)}, fs used ${mib(t.used)} (allocated/used ${(t.allocated / t.used).toFixed(2)})\n` +
    `  classic (dd + mkfs + loop mount + debootstrap): ${c.seconds.toFixed(1)} s, allocated ${mib(c.allocated)}, fs used ${mib(c.used)} (allocated/used ${(c.allocated / c.used).toFixed(2)})\n` +
    `  ratios txl/classic: time ${(t.seconds / c.seconds).toFixed(2)} (aim <= 0.7), allocated ${(t.allocated / c.allocated).toFixed(2)}\n`,
);
process.stdout.write(`${JSON.stringify({ bench: 'image', runs: RUNS, txl: t, classic: c, timeRatio: t.seconds / c.seconds, allocatedRatio: t.allocated / c.allocated })}\n`);
