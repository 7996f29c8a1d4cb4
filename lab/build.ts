// Builds (or finds in the cache) the lab's dom0 image set for one Xen version: hypervisor, kernel,
// tiny initramfs, root disk image. The work is lab/dom0/build.sh; this file decides when to run it.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError } from './errors.js';

/** The Xen versions the lab can boot. */
export type XenVersion = '4.17' | '4.20';

/** Every supported version, oldest first. */
export const XEN_VERSIONS: readonly XenVersion[] = ['4.17', '4.20'];

/** The Debian suite that ships each Xen version. */
const SUITES: Readonly<Record<XenVersion, string>> = { '4.17': 'bookworm', '4.20': 'trixie' };

/** Bumped when build.sh's output format changes in a way its text hash would not show. */
const RECIPE_VERSION = 1;

/** Files whose content is an input of the image (relative to lab/dom0/). */
const RECIPE_FILES = ['build.sh', 'initrd-init.sh', 'lab-init.sh', 'agent.mjs', 'block-lab'];

/** A built image set (all paths absolute, inside the cache). */
export interface LabImage {
  readonly xen: XenVersion;
  readonly dir: string;
  /** The hypervisor, gunzipped: a multiboot ELF QEMU's -kernel loads. */
  readonly xenElf: string;
  /** Debian's kernel: dom0, and the stock PV kernel for guests. */
  readonly kernel: string;
  readonly initrd: string;
  /** ext4 image of the dom0 root; QEMU opens it with snapshot=on, so it is never modified. */
  readonly rootImage: string;
  readonly kernelVersion: string;
}

/** Checks a string is a supported Xen version. */
export function parseXenVersion(value: string): XenVersion {
  if ((XEN_VERSIONS as readonly string[]).includes(value)) return value as XenVersion;
  throw new LabError('TXL_LAB_USAGE', `unknown Xen version '${value}': the lab has ${XEN_VERSIONS.join(' and ')}`);
}

/** The repository this file belongs to (works from the sources and from dist/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'txl' && existsSync(join(dir, 'lab', 'dom0', 'build.sh'))) return dir;
    } catch {
      // keep walking up
    }
    const parent = dirname(dir);
    if (parent === dir) throw new LabError('TXL_LAB_BUILD', `cannot find the txl checkout above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** Where lab images live: $TXL_LAB_CACHE, else $XDG_CACHE_HOME/txl/lab, else ~/.cache/txl/lab. */
export function labCacheRoot(): string {
  if (process.env.TXL_LAB_CACHE) return process.env.TXL_LAB_CACHE;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'txl', 'lab');
}

function fileIdentity(path: string): string {
  const real = realpathSync(path);
  const st = statSync(real);
  return `${real}:${st.size}:${Math.floor(st.mtimeMs)}`;
}

/** The host binaries copied into dom0. */
export function hostBinaries(): { node: string; busybox: string } {
  const node = realpathSync(process.execPath);
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (!busybox) {
    throw new LabError('TXL_LAB_MISSING_TOOL', 'busybox is missing on this host (the lab initramfs needs a static busybox)', {
      hint: 'apt-get install busybox-static (tests/setup.sh does it)',
    });
  }
  return { node, busybox };
}

/** Everything that decides the image's content, and its hash (the cache key). */
export function labInputs(xen: XenVersion): { readonly hash: string; readonly description: string } {
  const dom0 = join(repoRoot(), 'lab', 'dom0');
  const { node, busybox } = hostBinaries();
  const parts = [
    `recipe=${RECIPE_VERSION}`,
    `xen=${xen}`,
    `suite=${SUITES[xen]}`,
    `node=${fileIdentity(node)}`,
    `busybox=${fileIdentity(busybox)}`,
    ...RECIPE_FILES.map((f) => `${f}=${createHash('sha256').update(readFileSync(join(dom0, f))).digest('hex')}`),
  ];
  const description = parts.join('\n');
  return { hash: createHash('sha256').update(description).digest('hex').slice(0, 16), description };
}

function imageAt(xen: XenVersion, dir: string): LabImage {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { kernelVersion: string };
  return {
    xen,
    dir,
    xenElf: join(dir, 'xen.elf'),
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.cpio.gz'),
    rootImage: join(dir, 'root.img'),
    kernelVersion: manifest.kernelVersion,
  };
}

/** The tools build.sh runs, with the Debian package that has each. */
const BUILD_TOOLS: readonly (readonly [string, string])[] = [
  ['mmdebstrap', 'mmdebstrap'],
  ['mke2fs', 'e2fsprogs'],
  ['cpio', 'cpio'],
  ['xz', 'xz-utils'],
  ['flock', 'util-linux'],
  ['dpkg-deb', 'dpkg'],
];

/** Throws TXL_LAB_MISSING_TOOL naming the packages when one of `tools` is not on PATH. */
export function requireTools(tools: readonly (readonly [string, string])[]): void {
  const dirs = (process.env.PATH ?? '/usr/bin:/bin').split(':').concat(['/usr/sbin', '/sbin']);
  const missing = tools.filter(([tool]) => !dirs.some((d) => d && existsSync(join(d, tool))));
  if (missing.length) {
    throw new LabError('TXL_LAB_MISSING_TOOL', `the lab needs ${missing.map(([t]) => t).join(', ')}, not found on PATH`, {
      hint: `apt-get install ${[...new Set(missing.map(([, p]) => p))].join(' ')} (tests/setup.sh installs everything the lab needs)`,
    });
  }
}

/**
 * Removes image sets of `versionDir` other than `keep` unused for a day (their inputs changed), and
 * temporary build folders left by a killed build an hour ago. A QEMU still running from a removed image
 * keeps its open files; nothing half-made is left.
 */
function pruneOldImages(versionDir: string, keep: string): void {
  const now = Date.now();
  for (const name of readdirSync(versionDir)) {
    const path = join(versionDir, name);
    if (path === keep || name.startsWith('.')) continue;
    try {
      const age = now - statSync(path).mtimeMs;
      if ((name.includes('.tmp-') && age > 3_600_000) || (!name.includes('.tmp-') && age > 86_400_000)) {
        rmSync(path, { recursive: true, force: true });
      }
    } catch {
      // raced with another process: fine
    }
  }
}

/** Options of ensureLabImage. */
export interface EnsureImageOptions {
  /** Receives build progress lines (nothing is printed by the library). */
  readonly onLog?: (line: string) => void;
}

/**
 * Returns the cached image set for `xen`, building it first when no image with the current inputs
 * exists. Builds are atomic (temporary folder, then rename) and serialised per version with flock,
 * so concurrent callers wait for one build instead of racing. Package downloads are kept in
 * `<cache>/apt/<suite>` and reused by later builds.
 */
export async function ensureLabImage(xen: XenVersion, opts: EnsureImageOptions = {}): Promise<LabImage> {
  const { hash } = labInputs(xen);
  const versionDir = join(labCacheRoot(), xen);
  const dir = join(versionDir, hash);
  if (existsSync(join(dir, 'manifest.json'))) {
    // Mark it used (pruneOldImages keeps what was used in the last day).
    try {
      utimesSync(dir, new Date(), new Date());
    } catch {
      // read-only cache: fine
    }
    return imageAt(xen, dir);
  }
  requireTools(BUILD_TOOLS);
  mkdirSync(versionDir, { recursive: true });
  const { node, busybox } = hostBinaries();
  const script = join(repoRoot(), 'lab', 'dom0', 'build.sh');
  const aptCache = join(labCacheRoot(), 'apt', SUITES[xen]);
  const args = [join(versionDir, '.build.lock'), 'bash', script, dir, aptCache, SUITES[xen], '', xen, node, busybox];
  opts.onLog?.(`lab: building the Xen ${xen} dom0 image in ${dir} (first time only; a few minutes)`);
  const tail: string[] = [];
  const status = await new Promise<number>((resolve, reject) => {
    const child = spawn('flock', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        tail.push(line);
        if (tail.length > 40) tail.shift();
        opts.onLog?.(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  if (status === 0) pruneOldImages(versionDir, dir);
  if (status !== 0 || !existsSync(join(dir, 'manifest.json'))) {
    throw new LabError('TXL_LAB_BUILD', `building the Xen ${xen} lab image failed (status ${status}):\n${tail.join('\n')}`, {
      details: { script, dir },
    });
  }
  return imageAt(xen, dir);
}

/**
 * Debian's kernel of the `xen` lab (the dom0 kernel, also a good PV domU kernel), copied under
 * `<repo>/.cache/lab/<xen>/` so dom0 sees it at the same path. Builds the lab image if needed.
 */
export async function labGuestKernel(xen: XenVersion, opts: EnsureImageOptions = {}): Promise<string> {
  const image = await ensureLabImage(xen, opts);
  const dir = join(repoRoot(), '.cache', 'lab', xen);
  const target = join(dir, `vmlinuz-${image.kernelVersion}`);
  if (!existsSync(target) || statSync(target).size !== statSync(image.kernel).size) {
    mkdirSync(dir, { recursive: true });
    const partial = `${target}.${process.pid}.tmp`;
    copyFileSync(image.kernel, partial);
    renameSync(partial, target);
  }
  return target;
}

/**
 * Kernel modules a busybox domU on labGuestKernel(xen) needs for /dev/xvda, eth0 and ext4
 * (xen-blkfront, xen-netfront, ext4 and their dependencies), uncompressed, in a folder under
 * `<repo>/.cache/lab/<xen>/` whose `modules.list` names them in load order (insmod each).
 */
export async function labGuestModules(xen: XenVersion, opts: EnsureImageOptions = {}): Promise<string> {
  const image = await ensureLabImage(xen, opts);
  const target = join(repoRoot(), '.cache', 'lab', xen, `modules-${image.kernelVersion}`);
  if (!existsSync(join(target, 'modules.list'))) {
    const partial = `${target}.${process.pid}.tmp`;
    rmSync(partial, { recursive: true, force: true });
    cpSync(join(image.dir, 'guest-modules'), partial, { recursive: true });
    rmSync(target, { recursive: true, force: true });
    renameSync(partial, target);
  }
  return target;
}
