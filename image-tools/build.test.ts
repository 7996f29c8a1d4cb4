import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { executeBuild, mountsBelow, type BuildProgress } from './build.js';
import { planBuild } from './plan.js';
import { loadRecipe } from './templates.js';
import { RecordingRunner } from './testing/recording-runner.js';
import type { RunOptions } from './runner.js';

const base = mkdtempSync(join(tmpdir(), 'txl-build-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** A plan into a fresh folder, and a fake runner whose "mmdebstrap" makes a tiny root and the kernel files. */
function setup(opts: { mke2fsFails?: boolean; duBytes?: number; mmdebstrap?: (argv: readonly string[], o: RunOptions) => Promise<{ status: number }> | { status: number } } = {}) {
  const out = join(base, `out${n++}`);
  const { recipe } = loadRecipe('debian-bookworm');
  const plan = planBuild({ ...recipe, sizeBytes: 256 * 1024 * 1024 }, { outputDir: out, source: 'debian-bookworm', cacheRoot: join(base, 'cache'), mode: 'root' });
  const runner = new RecordingRunner()
    .on('flock', async (argv, o) => {
      if (opts.mmdebstrap) return opts.mmdebstrap(argv, o);
      mkdirSync(join(plan.rootDir, 'etc'), { recursive: true });
      writeFileSync(join(plan.rootDir, 'etc', 'os-release'), 'ID=debian\n');
      writeFileSync(join(plan.stageDir, 'out', 'vmlinuz'), 'kernel');
      writeFileSync(join(plan.stageDir, 'out', 'initrd.img'), 'initrd');
      writeFileSync(join(plan.stageDir, 'out', 'kernel-version'), '6.1.0-50-cloud-amd64\n');
      return { stdout: 'I: downloading packages with apt...\nI: success in 1 seconds' };
    })
    .on('du', () => ({ stdout: `${opts.duBytes ?? 1024 * 1024}\t${plan.rootDir}\n` }))
    .on('mke2fs', () => (opts.mke2fsFails ? { status: 1, stderr: 'mke2fs: Could not allocate block' } : undefined))
    .on('dumpe2fs', () => ({ stdout: 'Inodes per group:  16\nFirst inode:  11\nGroup 0: (Blocks 1-8192)\n  Free inodes: 14-16\nGroup 1: (Blocks 8193-16384)\n  Free inodes: 17-32\n' }));
  return { plan, runner, out };
}

const okProbe = async (): Promise<{ ok: boolean }> => ({ ok: true });

describe('executeBuild', () => {
  it('runs the stages in order and moves the four outputs into place', async () => {
    const { plan, runner, out } = setup();
    const progress: BuildProgress[] = [];
    const r = await executeBuild(plan, { runner, probe: okProbe, onProgress: (p) => progress.push(p) });
    expect(progress.filter((p) => !p.detail).map((p) => p.stage)).toEqual(['check', 'stage', 'bootstrap', 'size', 'filesystem', 'outputs']);
    expect(progress.some((p) => p.detail && p.message.startsWith('I: downloading'))).toBe(true);
    // find clamps mtimes to SOURCE_DATE_EPOCH; dumpe2fs + debugfs set ctime/atime of the used inodes (2, 11-13).
    expect(runner.programs()).toEqual(['cp', 'flock', 'du', 'find', 'mke2fs', 'dumpe2fs', 'debugfs']);
    expect(runner.calls[3]!.argv).toEqual(['find', plan.rootDir, '-xdev', '-newermt', `@${plan.sourceDateEpoch}`, '-exec', 'touch', '--no-dereference', `--date=@${plan.sourceDateEpoch}`, '{}', '+']);
    expect(runner.calls[1]!.env?.SOURCE_DATE_EPOCH).toBe(String(plan.sourceDateEpoch));
    expect(readdirSync(out).sort()).toEqual(['debian-bookworm.cfg', 'debian-bookworm.img', 'debian-bookworm.initrd', 'debian-bookworm.vmlinuz']);
    expect(r.kernelVersion).toBe('6.1.0-50-cloud-amd64');
    expect(r.apparentBytes).toBe(256 * 1024 * 1024);
    // The stage folder held the rendered guest files and the customize script.
    expect(runner.calls[1]!.argv.some((a) => a.includes('customize.sh'))).toBe(true);
  });

  it('fails fast on an unreachable mirror, before running anything', async () => {
    const { plan, runner, out } = setup();
    await expect(executeBuild(plan, { runner, probe: async () => ({ ok: false, reason: 'ENOTFOUND' }) })).rejects.toThrow(
      'mirror unreachable: http://deb.debian.org/debian (ENOTFOUND for http://deb.debian.org/debian/dists/bookworm/Release)',
    );
    expect(runner.calls).toEqual([]);
    expect(existsSync(out)).toBe(false);
  });

  it.each(['ubuntu-noble', 'ubuntu-jammy', 'ubuntu-lucid'])('%s: the recipe validates; without Ubuntu\'s keyring the build stops before anything runs, naming what to install', async (name) => {
    const { recipe, warnings } = loadRecipe(name);
    expect(warnings.filter((w) => !/root cannot log in/.test(w))).toEqual([]);
    const out = join(base, `out${n++}`);
    const plan = planBuild(recipe, { outputDir: out, source: name, cacheRoot: join(base, 'cache'), mode: 'root' });
    // The real plan names Ubuntu's keyring (lucid is signed by a key Ubuntu has since retired).
    expect(plan.keyring).toBe(name === 'ubuntu-lucid' ? '/usr/share/keyrings/ubuntu-archive-removed-keys.gpg' : '/usr/share/keyrings/ubuntu-archive-keyring.gpg');
    expect(plan.bootstrap.argv).toContain(`--keyring=${plan.keyring}`);
    // This host may or may not have it: point the plan at one that surely is missing.
    const missing = join(base, 'no-such-dir', 'ubuntu-archive-keyring.gpg');
    const runner = new RecordingRunner();
    const error = await executeBuild({ ...plan, keyring: missing }, { runner, probe: okProbe }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TXL_IMG_TOOL', message: `cannot verify the ubuntu archive: its keyring ${missing} is not installed on this host` });
    expect((error as { hint?: string }).hint).toMatch(/package ubuntu-keyring.*txl template new NAME --from RECIPE --debian/);
    expect(runner.calls).toEqual([]);
    expect(existsSync(out)).toBe(false);
  });

  it('says how much space is needed when the size is too small, and leaves nothing', async () => {
    const { plan, runner, out } = setup({ duBytes: 400 * 1024 * 1024 });
    await expect(executeBuild(plan, { runner, probe: okProbe })).rejects.toThrow(/size: 256 MiB is too small for this system \(400 MiB installed\); it needs at least 6\d\d MiB/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('leaves no output and no work folder when mke2fs fails', async () => {
    const { plan, runner, out } = setup({ mke2fsFails: true });
    await expect(executeBuild(plan, { runner, probe: okProbe })).rejects.toThrow(/mke2fs failed .*Could not allocate block/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('reports mmdebstrap failures with its last lines', async () => {
    const { plan, runner, out } = setup({
      mmdebstrap: (_argv, o) => {
        o.onLine?.('E: Unable to locate package nosuchpkg', 'stderr');
        return { status: 1 };
      },
    });
    await expect(executeBuild(plan, { runner, probe: okProbe })).rejects.toThrow(/mmdebstrap failed \(status 1\):\nE: Unable to locate package nosuchpkg/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('an interrupted build removes its work folder and writes no output', async () => {
    const controller = new AbortController();
    const { plan, runner, out } = setup({
      mmdebstrap: (_argv, o) =>
        new Promise((resolve) => {
          mkdirSync(join(plan.rootDir, 'usr'), { recursive: true });
          o.signal?.addEventListener('abort', () => resolve({ status: 143 }));
          setTimeout(() => controller.abort(), 10);
        }),
    });
    await expect(executeBuild(plan, { runner, probe: okProbe, signal: controller.signal })).rejects.toMatchObject({ code: 'TXL_IMG_INTERRUPTED' });
    expect(readdirSync(out)).toEqual([]);
  });

  it('refuses to overwrite outputs without force', async () => {
    const { plan, runner, out } = setup();
    mkdirSync(out, { recursive: true });
    writeFileSync(plan.outputs.cfg, 'old');
    await expect(executeBuild(plan, { runner, probe: okProbe })).rejects.toThrow(/debian-bookworm\.cfg already exists/);
    expect(runner.calls).toEqual([]);
  });

  it('does not delete through mount points left in the work folder', async () => {
    const info = join(base, 'mountinfo');
    writeFileSync(info, '36 35 98:0 / /work/x/.n.txl-build-1/root/proc rw - proc proc rw\n37 35 98:0 / /work/x/other rw - ext4 /dev/a rw\n');
    expect(mountsBelow('/work/x/.n.txl-build-1', info)).toEqual(['/work/x/.n.txl-build-1/root/proc']);
  });
});
