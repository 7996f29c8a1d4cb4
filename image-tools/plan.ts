// `txl image build` as data: a BuildPlan (paths, the rendered guest files, the mmdebstrap and mke2fs
// command lines) made from a Recipe without side effects; build.ts executes it. --dry-run prints it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Filesystem } from './disk.js';
import { filesystemExtent, type PartitionTable } from './disk.js';
import { render, type RenderContext } from './render.js';
import type { Recipe } from './recipe.js';
import { guestFilesDir } from './templates.js';

/** A file the plan writes into the build's stage folder (relative path) with its content. */
export interface StageFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

/** Everything `txl image build` will do, as plain data. */
export interface BuildPlan {
  readonly recipe: Recipe;
  /** What the recipe came from (template name or file), for the cfg header. */
  readonly source: string;
  readonly outputs: { readonly dir: string; readonly image: string; readonly cfg: string; readonly kernel: string; readonly initrd: string };
  /** Temporary folder beside the outputs (same filesystem: the final renames are atomic). */
  readonly workDir: string;
  readonly stageDir: string;
  readonly rootDir: string;
  readonly aptCache: string;
  /** mmdebstrap mode: root as root (directory output, mke2fs -d on it), else unshare (tar, then fakeroot). */
  readonly mode: 'root' | 'unshare';
  readonly sourceDateEpoch: number;
  /** Filesystem UUID and hash seed, derived from the recipe: same recipe, same UUID. */
  readonly uuid: string;
  /** Release file probed before anything else (an unreachable mirror fails in seconds, not minutes). */
  readonly mirrorProbe: string;
  /** OpenPGP keyring apt verifies the archive with (must exist on the build host); undefined: mmdebstrap's default (Debian's). */
  readonly keyring: string | undefined;
  readonly stageFiles: readonly StageFile[];
  readonly bootstrap: { readonly argv: readonly string[]; readonly env: Readonly<Record<string, string>> };
  readonly filesystem: { readonly type: Filesystem; readonly sizeBytes: number; readonly partitioned: boolean; readonly partitionTable: PartitionTable; readonly label: string };
  readonly cfgText: string;
}

/** Options of planBuild. */
export interface PlanOptions {
  readonly outputDir: string;
  readonly source: string;
  /** Package cache root (default $XDG_CACHE_HOME/txl/apt or ~/.cache/txl/apt). */
  readonly cacheRoot?: string;
  readonly mode?: 'root' | 'unshare';
  /** Default: $SOURCE_DATE_EPOCH, else a fixed date (2024-06-01) so builds compare equal. */
  readonly sourceDateEpoch?: number;
  /** Process id used in the temporary folder name (tests fix it). */
  readonly pid?: number;
  /** Guest files folder (default templates/files). */
  readonly filesDir?: string;
  /** mmdebstrap --verbose: apt's and dpkg's own output (maintainer scripts, triggers) as progress detail. */
  readonly verboseTools?: boolean;
}

/** The default package cache root: shared by every build of every recipe. */
export function defaultCacheRoot(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'txl', 'apt');
}

function uuidFrom(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  // An RFC 4122 version-4-shaped UUID (mke2fs only needs the shape).
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Packages the recipe needs besides its list: the kernel, and what its locale/time zone need. */
export function packagesOf(recipe: Recipe): string[] {
  const pkgs = [...recipe.packages, recipe.kernel.package];
  if (recipe.locale !== 'C.UTF-8' && recipe.locale !== 'C' && recipe.locale !== 'POSIX') pkgs.push('locales');
  if (recipe.timezone !== 'Etc/UTC' && recipe.timezone !== 'UTC') pkgs.push('tzdata');
  if (recipe.users.some((u) => u.groups.includes('sudo'))) pkgs.push('sudo');
  return [...new Set(pkgs)];
}

/** The rendering context of the guest files. */
export function guestContext(recipe: Recipe): RenderContext {
  const short = recipe.hostname.split('.')[0]!;
  return {
    hostname: recipe.hostname,
    shortHostname: short,
    domainPart: recipe.hostname.includes('.'),
    rootDevice: recipe.partitioned ? '/dev/xvda1' : '/dev/xvda',
    filesystem: recipe.filesystem,
    interface: recipe.network.interface,
    dhcp: recipe.network.dhcp,
    address: recipe.network.address,
    addressOnly: recipe.network.address?.split('/')[0],
    gateway: recipe.network.gateway,
    nameservers: recipe.network.nameservers,
    hasNameservers: recipe.network.nameservers.length > 0,
    nameserverList: recipe.network.nameservers.join(', '),
    mirror: recipe.mirror,
    suite: recipe.suite,
    components: recipe.components.join(' '),
  };
}

/** The guest files of a recipe: [path inside the guest, rendered content] (see templates/files/README.md). */
export function guestFiles(recipe: Recipe, filesDir = guestFilesDir()): { path: string; content: string; mode: number }[] {
  const ctx = guestContext(recipe);
  const from = (name: string): string => render(readFileSync(join(filesDir, name), 'utf8'), ctx, `templates/files/${name}`);
  const files = [
    { path: 'etc/hostname', content: from('hostname'), mode: 0o644 },
    { path: 'etc/hosts', content: from('hosts'), mode: 0o644 },
    { path: 'etc/fstab', content: from('fstab'), mode: 0o644 },
    { path: 'etc/apt/sources.list', content: from(`apt/${recipe.distribution}.list`), mode: 0o644 },
  ];
  switch (recipe.network.renderer) {
    case 'ifupdown':
      files.push({ path: 'etc/network/interfaces', content: from('network/ifupdown.interfaces'), mode: 0o644 });
      break;
    case 'networkd':
      files.push({ path: 'etc/systemd/network/10-txl.network', content: from('network/networkd.network'), mode: 0o644 });
      break;
    case 'netplan':
      // netplan refuses world-readable configs (they may hold secrets): 0600.
      files.push({ path: 'etc/netplan/01-txl.yaml', content: from('network/netplan.yaml'), mode: 0o600 });
      break;
  }
  if (!recipe.network.dhcp && recipe.network.nameservers.length) files.push({ path: 'etc/resolv.conf', content: from('resolv.conf'), mode: 0o644 });
  if (recipe.init === 'upstart') files.push({ path: 'etc/init/hvc0.conf', content: from('console/upstart-hvc0.conf'), mode: 0o644 });
  return files;
}

function shellQuote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

/** dpkg rules keeping documentation and translations out of the guest (copyright files and locale.alias stay). */
export const DPKG_NODOC = [
  '# txl image build: no documentation or translations in a domU image (copyright files stay).',
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
  '',
].join('\n');

/**
 * Removes what DPKG_NODOC would have kept out of the essential packages (they are extracted before the
 * rules exist): the same paths, as a shell command for a mmdebstrap hook ("$1" is the root).
 */
export const NODOC_CLEANUP = [
  'rm -rf "$1"/usr/share/man/*',
  'find "$1/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete',
  'find "$1/usr/share/doc" -mindepth 1 -depth -type d -empty -delete',
  'find "$1/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +',
].join(' && ');

/**
 * Work the package scripts would do more than once, or for nothing, deferred (a chrooted essential hook,
 * before apt installs the rest):
 * - the initramfs: the kernel's postinst makes it (update-initramfs -c), then the initramfs-tools trigger
 *   makes it again (-u) once the other packages are configured; about a fifth of a Debian minimal build.
 *   update-initramfs is diverted to a no-op and run once at the end (DEFER_FINISH), after every package.
 * - SSH host keys: openssh-server's postinst skips key types whose file exists; the keys would be deleted
 *   anyway (a shared image must not carry them: the guest makes its own at first boot). Empty placeholders.
 */
export const DEFER_SETUP = [
  'dpkg-divert --quiet --local --rename --divert /usr/sbin/update-initramfs.txl-deferred --add /usr/sbin/update-initramfs',
  "printf '#!/bin/sh\\n# txl image build: the initramfs is made once, at the end of the build\\nexit 0\\n' > /usr/sbin/update-initramfs",
  'chmod 755 /usr/sbin/update-initramfs',
  'mkdir -p /etc/ssh',
  'for k in rsa ecdsa ed25519; do : > /etc/ssh/ssh_host_${k}_key; done',
].join(' && ');

/** Undoes DEFER_SETUP once every package is configured: the real update-initramfs makes each kernel's initramfs once. */
export const DEFER_FINISH = [
  'rm -f /usr/sbin/update-initramfs',
  'dpkg-divert --quiet --local --rename --divert /usr/sbin/update-initramfs.txl-deferred --remove /usr/sbin/update-initramfs',
  'if [ -x /usr/sbin/update-initramfs ]; then update-initramfs -c -k all; fi',
  'for k in rsa ecdsa ed25519; do [ -s /etc/ssh/ssh_host_${k}_key ] || rm -f /etc/ssh/ssh_host_${k}_key; done',
  '{ rmdir /etc/ssh 2>/dev/null || true; }',
].join(' && ');

/** Makes the plan for building `recipe` into `opts.outputDir`. Pure apart from reading templates/files. */
export function planBuild(recipe: Recipe, opts: PlanOptions): BuildPlan {
  const dir = resolve(opts.outputDir);
  const pid = opts.pid ?? process.pid;
  const workDir = join(dir, `.${recipe.name}.txl-build-${pid}`);
  const stageDir = join(workDir, 'stage');
  const mode = opts.mode ?? (process.getuid?.() === 0 ? 'root' : 'unshare');
  const rootDir = mode === 'root' ? join(workDir, 'root') : join(workDir, 'rootfs.tar');
  const aptCache = join(opts.cacheRoot ?? defaultCacheRoot(), `${recipe.distribution}-${recipe.suite}`);
  // Beside the .deb cache, not in it (the .deb folder is synced in whole).
  const listsCache = `${aptCache}-lists`;
  const sourceDateEpoch = opts.sourceDateEpoch ?? (process.env.SOURCE_DATE_EPOCH ? Number(process.env.SOURCE_DATE_EPOCH) : 1717200000);
  const outputs = {
    dir,
    image: join(dir, `${recipe.name}.img`),
    cfg: join(dir, `${recipe.name}.cfg`),
    kernel: join(dir, `${recipe.name}.vmlinuz`),
    initrd: join(dir, `${recipe.name}.initrd`),
  };
  const filesDir = opts.filesDir ?? guestFilesDir();
  const stageFiles: StageFile[] = [
    ...guestFiles(recipe, filesDir).map((f) => ({ ...f, path: join('files', f.path) })),
    { path: 'customize.sh', content: readFileSync(join(filesDir, 'customize.sh'), 'utf8'), mode: 0o755 },
    {
      path: 'settings.env',
      content:
        [
          `TXL_INIT=${shellQuote(recipe.init)}`,
          `TXL_NETWORK=${shellQuote(recipe.network.renderer)}`,
          `TXL_ROOT_HASH=${shellQuote(recipe.root.passwordHash ?? '')}`,
          `TXL_LOCALE=${shellQuote(recipe.locale)}`,
          `TXL_TIMEZONE=${shellQuote(recipe.timezone)}`,
        ].join('\n') + '\n',
      mode: 0o600,
    },
    { path: 'root.keys', content: recipe.root.sshKeys.map((k) => `${k}\n`).join(''), mode: 0o600 },
    { path: 'users.tsv', content: recipe.users.map((u) => `${u.name}\t${u.passwordHash ?? ''}\t${u.groups.join(',')}\t${u.shell}\n`).join(''), mode: 0o600 },
    ...recipe.users.map((u) => ({ path: `user-${u.name}.keys`, content: u.sshKeys.map((k) => `${k}\n`).join(''), mode: 0o600 })),
  ];
  stageFiles.push({ path: 'dpkg-nodoc.cfg', content: DPKG_NODOC, mode: 0o644 });
  if (recipe.init === 'sysvinit') stageFiles.push({ path: 'inittab-hvc0', content: readFileSync(join(filesDir, 'console/inittab-hvc0'), 'utf8'), mode: 0o644 });

  // Ubuntu's archive is signed by Ubuntu's keys, which Debian hosts do not have by default.
  const keyring = recipe.distribution === 'ubuntu' ? (recipe.suite === 'lucid' ? '/usr/share/keyrings/ubuntu-archive-removed-keys.gpg' : '/usr/share/keyrings/ubuntu-archive-keyring.gpg') : undefined;
  const argv = [
    'flock', join(aptCache, '.lock'), // one build at a time per package cache (apt's cache is not shared-write safe)
    'mmdebstrap',
    ...(opts.verboseTools ? ['--verbose'] : []),
    `--mode=${mode}`,
    `--variant=${recipe.variant}`,
    `--format=${mode === 'root' ? 'directory' : 'tar'}`,
    `--components=${recipe.components.join(',')}`,
    `--include=${packagesOf(recipe).join(',')}`,
    ...(keyring ? [`--keyring=${keyring}`] : []),
    // Keep downloaded .debs until the sync-out hook copied them to the cache: the essential set too
    // (mmdebstrap deletes those after installing them, so without this they were downloaded every build).
    '--skip=download/empty',
    '--skip=essential/unlink',
    // No fsync per unpacked file: the tree is only an input to mke2fs -d, written once at the end. The
    // option is removed from the image's dpkg configuration again (next hook), so the guest's dpkg syncs.
    '--dpkgopt=force-unsafe-io',
    '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/ "$1"/var/lib/apt/lists/',
    `--setup-hook=sync-in ${aptCache} /var/cache/apt/archives/`,
    // The package lists too: apt-get update then only revalidates them (If-Modified-Since) instead of
    // downloading the archive's Packages files again. An empty folder the first time is fine.
    `--setup-hook=mkdir -p ${shellQuote(listsCache)}`,
    `--setup-hook=sync-in ${listsCache} /var/lib/apt/lists/`,
    // Documentation and translations are not needed in a server domU (smaller image, faster build).
    // The dpkg path-exclude rules are installed after the essential set is extracted, not passed as
    // --dpkgopt: mmdebstrap would then pipe every essential package through its Python tar filter,
    // the slowest step of the build. What the extraction put there is removed by the cleanup hook below.
    `--extract-hook=mkdir -p "$1/etc/dpkg/dpkg.cfg.d" && cp ${shellQuote(join(stageDir, 'dpkg-nodoc.cfg'))} "$1/etc/dpkg/dpkg.cfg.d/txl-nodoc"`,
    `--chrooted-essential-hook=${DEFER_SETUP}`,
    `--customize-hook=sync-out /var/cache/apt/archives ${aptCache}`,
    '--customize-hook=rm -rf "$1/var/lib/apt/lists/lock" "$1/var/lib/apt/lists/partial"',
    `--customize-hook=sync-out /var/lib/apt/lists ${listsCache}`,
    `--customize-hook=${NODOC_CLEANUP}`,
    `--chrooted-customize-hook=${DEFER_FINISH}`, // before customize.sh, which copies the initrd out
    `--customize-hook=sed -i '/^force-unsafe-io$/d' "$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap"`,
    `--customize-hook=sh ${shellQuote(join(stageDir, 'customize.sh'))} "$1" ${shellQuote(stageDir)}`,
    recipe.suite,
    rootDir,
    recipe.mirror,
  ];
  const ctx: RenderContext = {
    name: recipe.name,
    source: opts.source,
    cfgPath: outputs.cfg,
    kernelPath: outputs.kernel,
    initrdPath: outputs.initrd,
    rootDevice: recipe.partitioned ? '/dev/xvda1' : '/dev/xvda',
    cmdline: recipe.kernel.cmdline,
    memory: recipe.domain.memoryMiB,
    vcpus: recipe.domain.vcpus,
    imagePath: outputs.image,
    bridge: recipe.domain.bridge,
  };
  const cfgText = render(readFileSync(join(filesDir, 'domain.cfg'), 'utf8'), ctx, 'templates/files/domain.cfg');
  return {
    recipe,
    source: opts.source,
    outputs,
    workDir,
    stageDir,
    rootDir,
    aptCache,
    mode,
    sourceDateEpoch,
    uuid: uuidFrom(JSON.stringify({ ...recipe, overlays: undefined })),
    mirrorProbe: `${recipe.mirror}/dists/${recipe.suite}/Release`,
    keyring,
    stageFiles,
    bootstrap: { argv, env: { SOURCE_DATE_EPOCH: String(sourceDateEpoch), LC_ALL: 'C.UTF-8' } },
    filesystem: { type: recipe.filesystem, sizeBytes: recipe.sizeBytes, partitioned: recipe.partitioned, partitionTable: recipe.partitionTable, label: recipe.name.slice(0, 16) },
    cfgText,
  };
}

/** The plan as text for --dry-run (secrets in stage files are not shown). */
export function describePlan(plan: BuildPlan): string {
  const r = plan.recipe;
  const lines = [
    `build ${r.name} from ${plan.source}: ${r.distribution} ${r.suite} (${r.variant}), ${r.init}, kernel ${r.kernel.package}`,
    `  outputs: ${plan.outputs.image} (${r.filesystem}, ${r.sizeBytes} bytes${r.partitioned ? `, ${r.partitionTable.toUpperCase()}, filesystem in partition 1 at ${filesystemExtent(r.sizeBytes, r.partitionTable).offset}` : ''}), ${plan.outputs.cfg}, ${plan.outputs.kernel}, ${plan.outputs.initrd}`,
    `  work folder: ${plan.workDir} (removed at the end; the outputs appear only when complete)`,
    `  package cache: ${plan.aptCache}`,
    `1. check the mirror: ${plan.mirrorProbe}`,
    `2. write the stage folder: ${plan.stageFiles.map((f) => f.path).join(', ')}`,
    `3. bootstrap (SOURCE_DATE_EPOCH=${plan.sourceDateEpoch}): ${plan.bootstrap.argv.map((a) => (/[\s"$']/.test(a) ? shellQuote(a) : a)).join(' ')}`,
    `4. check the size: the installed system must fit in ${r.sizeBytes} bytes`,
    `5. make the filesystem without mounting: mke2fs -t ${r.filesystem} -U ${plan.uuid} -d ${plan.mode === 'root' ? plan.rootDir : '<extracted tar, under fakeroot>'}`,
    `6. write ${plan.outputs.cfg}, move the outputs into place`,
  ];
  return `${lines.join('\n')}\n`;
}
