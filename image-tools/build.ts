// Executes a BuildPlan: the only place `txl image build` has side effects. External tools run through
// the CommandRunner port; progress goes to a callback; everything is made in a work folder beside the
// outputs and moved into place at the end, so an interrupted or failed build leaves no output names.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createImage, e2fsTarget, filesystemExtent, mke2fsArgv, normalizeInodeTimes, runChecked, tableOf, writeSparseFile } from './disk.js';
import { ImageError } from './errors.js';
import type { BuildPlan } from './plan.js';
import type { CommandRunner } from './runner.js';
import { formatSize } from './size.js';

/** Stages reported through onProgress, in order. */
export const BUILD_STAGES = ['check', 'stage', 'bootstrap', 'size', 'filesystem', 'outputs'] as const;
export type BuildStage = (typeof BUILD_STAGES)[number];

/** One progress report. `detail` lines come from the tools (mmdebstrap's "I: ..." lines). */
export interface BuildProgress {
  readonly stage: BuildStage;
  readonly message: string;
  readonly detail?: boolean;
}

/** Answers whether a URL can be fetched (the mirror probe). */
export type UrlProbe = (url: string, signal: AbortSignal) => Promise<{ readonly ok: boolean; readonly reason?: string }>;

/** The default probe: an HTTP HEAD with a 15 s limit. */
export const httpProbe: UrlProbe = async (url, signal) => {
  try {
    const r = await fetch(url, { method: 'HEAD', signal: AbortSignal.any([signal, AbortSignal.timeout(15_000)]), redirect: 'follow' });
    return r.ok ? { ok: true } : { ok: false, reason: `HTTP ${r.status}` };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { ok: false, reason: cause?.code ?? cause?.message ?? (error as Error).message };
  }
};

/** Options of executeBuild. */
export interface ExecuteOptions {
  readonly runner: CommandRunner;
  readonly probe?: UrlProbe;
  readonly onProgress?: (p: BuildProgress) => void;
  readonly signal?: AbortSignal;
  /** Replace existing outputs. */
  readonly force?: boolean;
  /** Report every line mmdebstrap prints (with --verbose: apt, dpkg, maintainer scripts), not only its I:/W:/E: lines. */
  readonly allToolLines?: boolean;
  /** Where /proc/self/mountinfo is (tests). */
  readonly mountinfo?: string;
}

/** What a build made. */
export interface BuildResult {
  readonly outputs: BuildPlan['outputs'];
  readonly kernelVersion: string;
  /** Bytes of the installed system (du of the root). */
  readonly usedBytes: number;
  /** Bytes the image really occupies on disk (st_blocks * 512). */
  readonly allocatedBytes: number;
  readonly apparentBytes: number;
  readonly seconds: number;
  readonly stageSeconds: Readonly<Partial<Record<BuildStage, number>>>;
}

/** Mount points at or below `dir` (deepest first), from mountinfo. */
export function mountsBelow(dir: string, mountinfo = '/proc/self/mountinfo'): string[] {
  let text = '';
  try {
    text = readFileSync(mountinfo, 'utf8');
  } catch {
    return [];
  }
  const decode = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text
    .split('\n')
    .map((l) => decode(l.split(' ')[4] ?? ''))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes a work folder, but never through a mount point: mmdebstrap's root mode bind-mounts /dev,
 * /proc and /sys into the chroot, and deleting through those would delete the host's. Mounts left by
 * a killed mmdebstrap are unmounted first; if one stays, the folder is kept and an error says why.
 */
export async function removeWorkDir(dir: string, runner: CommandRunner, mountinfo?: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const m of mountsBelow(dir, mountinfo)) await runner.run(['umount', '--lazy', m]);
  const left = mountsBelow(dir, mountinfo);
  if (left.length) {
    throw new ImageError('TXL_IMG_BUILD', `not removing ${dir}: ${left.join(', ')} ${left.length === 1 ? 'is' : 'are'} still mounted`, {
      hint: `unmount them (umount -R ${dir}) and remove the folder by hand`,
    });
  }
  rmSync(dir, { recursive: true, force: true });
}

function interrupted(): ImageError {
  return new ImageError('TXL_IMG_INTERRUPTED', 'the build was interrupted; its work folder was removed and no output was written', { exitCode: 130 });
}

/** Runs the plan. On any failure or abort the work folder is removed and no output name is touched. */
export async function executeBuild(plan: BuildPlan, opts: ExecuteOptions): Promise<BuildResult> {
  const { runner } = opts;
  const signal = opts.signal ?? new AbortController().signal;
  const started = Date.now();
  const stageSeconds: Partial<Record<BuildStage, number>> = {};
  let stageStart = started;
  let current: BuildStage = 'check';
  const enter = (stage: BuildStage, message: string): void => {
    if (signal.aborted) throw interrupted();
    stageSeconds[current] = (Date.now() - stageStart) / 1000;
    current = stage;
    stageStart = Date.now();
    opts.onProgress?.({ stage, message });
  };
  const outs = plan.outputs;
  const finals = [outs.image, outs.cfg, outs.kernel, outs.initrd];

  opts.onProgress?.({ stage: 'check', message: `checking ${plan.mirrorProbe}` });
  if (!opts.force) {
    const existing = finals.filter((f) => existsSync(f));
    if (existing.length) throw new ImageError('TXL_IMG_EXISTS', `${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}`, { hint: 'pass --force to replace, or --output another folder' });
  }
  const probe = await (opts.probe ?? httpProbe)(plan.mirrorProbe, signal);
  if (signal.aborted) throw interrupted();
  if (!probe.ok) {
    throw new ImageError('TXL_IMG_MIRROR', `mirror unreachable: ${plan.recipe.mirror} (${probe.reason ?? 'no answer'} for ${plan.mirrorProbe})`, {
      details: { mirror: plan.recipe.mirror, url: plan.mirrorProbe, reason: probe.reason },
      hint: `set mirror: in the recipe to a ${plan.recipe.distribution} mirror this host can reach (an apt proxy such as apt-cacher-ng works too)`,
    });
  }

  if (plan.keyring !== undefined && !existsSync(plan.keyring)) {
    throw new ImageError('TXL_IMG_TOOL', `cannot verify the ${plan.recipe.distribution} archive: its keyring ${plan.keyring} is not installed on this host`, {
      details: { keyring: plan.keyring },
      hint: plan.recipe.distribution === 'ubuntu' ? "install Ubuntu's archive keyring (package ubuntu-keyring, from Debian's archive or Ubuntu's), or migrate the recipe: txl template new NAME --from RECIPE --debian" : 'install the archive keyring package',
    });
  }
  mkdirSync(outs.dir, { recursive: true });
  await removeWorkDir(plan.workDir, runner, opts.mountinfo);
  const moved: string[] = [];
  try {
    enter('stage', `preparing ${plan.stageDir}`);
    mkdirSync(join(plan.stageDir, 'out'), { recursive: true, mode: 0o700 });
    mkdirSync(plan.aptCache, { recursive: true });
    for (const f of plan.stageFiles) {
      const path = join(plan.stageDir, f.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, f.content, { mode: f.mode });
    }
    // Overlays go under files/ too (base template first, so later layers win); rendered files last.
    for (const overlay of plan.recipe.overlays) await runChecked(runner, `copy the overlay ${overlay}`, ['cp', '-R', '--preserve=mode,links', `${overlay}/.`, join(plan.stageDir, 'files')]);
    for (const f of plan.stageFiles.filter((s) => s.path.startsWith('files/'))) writeFileSync(join(plan.stageDir, f.path), f.content, { mode: f.mode });

    enter('bootstrap', `installing ${plan.recipe.distribution} ${plan.recipe.suite} with mmdebstrap (${plan.mode} mode)`);
    const tail: string[] = [];
    const boot = await runner.run(plan.bootstrap.argv, {
      env: plan.bootstrap.env,
      signal,
      onLine: (line) => {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        if (opts.allToolLines || /^[IWE]: /.test(line) || line.startsWith('customize:')) opts.onProgress?.({ stage: 'bootstrap', message: line, detail: true });
      },
    });
    if (signal.aborted) throw interrupted();
    if (boot.status !== 0) {
      const missing = boot.status === 127;
      throw new ImageError('TXL_IMG_BUILD', missing ? 'mmdebstrap (or flock) is not installed' : `mmdebstrap failed (status ${boot.status}):\n${tail.join('\n')}`, {
        details: { stage: 'bootstrap', status: boot.status },
        ...(missing ? { hint: 'apt-get install mmdebstrap' } : {}),
      });
    }
    const kernelVersion = readFileSync(join(plan.stageDir, 'out', 'kernel-version'), 'utf8').trim();
    if (!existsSync(join(plan.stageDir, 'out', 'initrd.img'))) {
      throw new ImageError('TXL_IMG_BUILD', `the image has no initrd for kernel ${kernelVersion}; Debian kernels need one (xen-blkfront is a module)`, { hint: 'add initramfs-tools to packages' });
    }

    enter('size', 'measuring the installed system');
    const du = await runChecked(runner, 'measure the installed system', ['du', '-s', '-x', '--block-size=1', plan.rootDir]);
    const usedBytes = Number(du.stdout.split(/\s/)[0]);
    // Room for ext metadata (inode tables ~2%, the journal up to 64 MiB) plus 20 % of free space.
    const neededBytes = Math.ceil((usedBytes * 1.25 + 96 * 1024 * 1024) / (64 * 1024 * 1024)) * 64 * 1024 * 1024;
    if (plan.filesystem.sizeBytes < neededBytes) {
      throw new ImageError('TXL_IMG_TOO_SMALL', `size: ${formatSize(plan.filesystem.sizeBytes)} is too small for this system (${formatSize(usedBytes)} installed); it needs at least ${formatSize(neededBytes)}`, {
        details: { sizeBytes: plan.filesystem.sizeBytes, usedBytes, neededBytes },
        hint: `set size: ${Math.ceil(neededBytes / 1024 ** 2)}M (or more) in the recipe`,
      });
    }

    enter('filesystem', `making ${formatSize(plan.filesystem.sizeBytes)} ${plan.filesystem.type} from the root (mke2fs -d, no mount)`);
    const workImage = join(plan.workDir, 'disk.img');
    const spec = { path: workImage, sizeBytes: plan.filesystem.sizeBytes, filesystem: plan.filesystem.type, partitioned: plan.filesystem.partitioned, partitionTable: plan.filesystem.partitionTable, label: plan.filesystem.label, uuid: plan.uuid, sourceDateEpoch: plan.sourceDateEpoch };
    if (plan.mode === 'root') {
      // Reproducibility: what was written during the build (maintainer scripts, our set-up, mmdebstrap's
      // own clean-up of folders) gets the epoch as its modification time; mke2fs -d copies mtimes.
      // (The tar of unshare mode is clamped by mmdebstrap itself.) ctime/atime: normalizeInodeTimes.
      await runChecked(runner, 'clamp the modification times to SOURCE_DATE_EPOCH', ['find', plan.rootDir, '-xdev', '-newermt', `@${plan.sourceDateEpoch}`, '-exec', 'touch', '--no-dereference', `--date=@${plan.sourceDateEpoch}`, '{}', '+']);
      await createImage({ ...spec, fromDirectory: plan.rootDir }, runner);
    } else {
      // Rootless: unpack the tar and run mke2fs -d in one fakeroot session, so files stay root's.
      const tree = join(plan.workDir, 'tree');
      writeSparseFile(workImage, spec.sizeBytes, tableOf(spec), plan.uuid, spec.label);
      const mk = mke2fsArgv({ ...spec, fromDirectory: tree }, workImage).map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      await runChecked(runner, 'make the filesystem under fakeroot', ['fakeroot', 'sh', '-c', `mkdir '${tree}' && tar -C '${tree}' -xpf '${plan.rootDir}' && ${mk}`], [0], {
        SOURCE_DATE_EPOCH: String(plan.sourceDateEpoch),
        E2FSPROGS_FAKE_TIME: String(plan.sourceDateEpoch),
      });
      await normalizeInodeTimes(e2fsTarget(workImage, filesystemExtent(spec.sizeBytes, tableOf(spec)).offset), plan.sourceDateEpoch, runner, plan.workDir);
    }
    if (signal.aborted) throw interrupted();
    writeFileSync(join(plan.workDir, 'domain.cfg'), plan.cfgText);

    enter('outputs', `moving the outputs into ${outs.dir}`);
    const pairs: [string, string][] = [
      [workImage, outs.image],
      [join(plan.stageDir, 'out', 'vmlinuz'), outs.kernel],
      [join(plan.stageDir, 'out', 'initrd.img'), outs.initrd],
      [join(plan.workDir, 'domain.cfg'), outs.cfg], // last: a cfg only exists next to a complete image
    ];
    for (const [from, to] of pairs) {
      renameSync(from, to);
      moved.push(to);
    }
    stageSeconds.outputs = (Date.now() - stageStart) / 1000;
    await removeWorkDir(plan.workDir, runner, opts.mountinfo);
    const st = statSync(outs.image);
    return { outputs: outs, kernelVersion, usedBytes, allocatedBytes: st.blocks * 512, apparentBytes: st.size, seconds: (Date.now() - started) / 1000, stageSeconds };
  } catch (error) {
    for (const f of moved) rmSync(f, { force: true });
    await removeWorkDir(plan.workDir, runner, opts.mountinfo);
    if (signal.aborted && !(error instanceof ImageError && error.code === 'TXL_IMG_INTERRUPTED')) throw interrupted();
    throw error;
  }
}
