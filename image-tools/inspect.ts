// `txl image inspect`: reads a domU image without mounting it (debugfs, rootless) and reports its
// distribution, kernels (and whether each boots as a Xen PV guest), console, network and fstab set-up,
// with warnings for what will not work on Xen.
import { existsSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { e2fsTarget, filesystemOffset, type FilesystemLocation } from './disk.js';
import { ImageError } from './errors.js';
import type { CommandRunner } from './runner.js';

/** Decides whether kernel bytes boot as a Xen PV guest (the CLI passes domain-builder's parseKernel). */
export type KernelCheck = (bytes: Uint8Array, source: string) => Promise<{ readonly pv: boolean; readonly detail: string }>;

/** One kernel found in /boot. */
export interface KernelReport {
  readonly version: string;
  readonly path: string;
  readonly initrd: string | undefined;
  /** true/false from the kernel check; undefined when no check was available. */
  readonly pv: boolean | undefined;
  readonly detail: string;
  /** Xen options of /boot/config-VERSION (y, m, or absent). */
  readonly config: Readonly<Record<string, string>>;
}

/** What inspectImage found. */
export interface ImageReport {
  readonly image: string;
  readonly apparentBytes: number;
  readonly allocatedBytes: number;
  readonly filesystemOffset: number;
  /** Partition table found (gpt, mbr) and the filesystem's partition number, or none for a whole-disk filesystem. */
  readonly partitionTable: FilesystemLocation['table'];
  readonly partition: number | undefined;
  readonly distribution: { readonly id: string; readonly version: string; readonly codename: string; readonly prettyName: string };
  readonly init: 'systemd' | 'sysvinit' | 'upstart' | 'unknown';
  readonly packages: Readonly<Record<string, string>>;
  readonly kernels: readonly KernelReport[];
  readonly console: { readonly hvc0: boolean; readonly how: string };
  readonly network: { readonly renderer: string; readonly interfaces: readonly string[]; readonly file: string | undefined; readonly text: string | undefined };
  readonly fstab: string | undefined;
  readonly hostname: string | undefined;
  readonly warnings: readonly string[];
}

/** Options of inspectImage. */
export interface InspectOptions {
  readonly runner: CommandRunner;
  readonly checkKernel?: KernelCheck;
}

const KERNEL_OPTIONS = ['CONFIG_XEN_PV', 'CONFIG_XEN_PVH', 'CONFIG_HVC_XEN', 'CONFIG_XEN_BLKDEV_FRONTEND', 'CONFIG_XEN_NETDEV_FRONTEND'] as const;

/** Reads files and folders of an ext filesystem image through debugfs (which always exits 0: stderr tells). */
export class DebugfsReader {
  constructor(
    private readonly runner: CommandRunner,
    private readonly target: string,
  ) {}

  private async debugfs(request: string, binary = false): Promise<{ stdout: string; bytes: Buffer; stderr: string }> {
    const r = await this.runner.run(['debugfs', '-R', request, this.target], { binary });
    if (r.status === 127) throw new ImageError('TXL_IMG_TOOL', 'debugfs is not installed', { hint: 'apt-get install e2fsprogs' });
    const stderr = r.stderr.split('\n').filter((l) => l && !/^debugfs \d/.test(l)).join('\n');
    if (/Bad magic number|Filesystem not open|Couldn't find valid filesystem superblock/.test(stderr)) {
      throw new ImageError('TXL_IMG_INSPECT', `${this.target}: no ext2/3/4 filesystem found (${stderr.split('\n')[0]})`, { details: { target: this.target } });
    }
    return { stdout: r.stdout, bytes: r.stdoutBytes ?? Buffer.from(r.stdout), stderr };
  }

  /** Target of a symlink, or undefined when `path` is not one. */
  async readlink(path: string): Promise<string | undefined> {
    const r = await this.debugfs(`stat "${path}"`);
    if (!/Type: symlink/.test(r.stdout)) return undefined;
    const fast = /Fast link dest: "(.*)"/.exec(r.stdout);
    if (fast) return fast[1];
    return (await this.debugfs(`cat "${path}"`)).stdout; // slow symlink: the target is the data
  }

  /** `path` with every symlink resolved (inside the image), or undefined when it does not exist. */
  async resolve(path: string): Promise<string | undefined> {
    let current = path;
    for (let hops = 0; hops < 16; hops++) {
      // Resolve parents first: debugfs follows links in the middle of a path, but not absolute ones well.
      const link = await this.readlink(current);
      if (link === undefined) return (await this.exists(current)) ? current : undefined;
      current = link.startsWith('/') ? link : posix.normalize(posix.join(posix.dirname(current), link));
    }
    return undefined;
  }

  async exists(path: string): Promise<boolean> {
    const r = await this.debugfs(`stat "${path}"`);
    return /Inode: \d+/.test(r.stdout);
  }

  /** Text of a file (symlinks followed), or undefined when missing. */
  async readText(path: string): Promise<string | undefined> {
    const real = await this.resolve(path);
    if (real === undefined) return undefined;
    const r = await this.debugfs(`cat "${real}"`);
    return r.stderr.includes('not found') ? undefined : r.stdout;
  }

  /** Bytes of a file (symlinks followed), or undefined when missing. */
  async readBytes(path: string): Promise<Buffer | undefined> {
    const real = await this.resolve(path);
    if (real === undefined) return undefined;
    return (await this.debugfs(`cat "${real}"`, true)).bytes;
  }

  /** Names in a folder (without . and ..), or [] when it does not exist. */
  async list(path: string): Promise<string[]> {
    const real = (await this.resolve(path)) ?? path;
    const r = await this.debugfs(`ls -p "${real}"`);
    // -p lines: /inode/mode/uid/gid/name/size/
    return r.stdout
      .split('\n')
      .map((l) => l.split('/'))
      .filter((f) => f.length >= 7 && f[5] !== '.' && f[5] !== '..')
      .map((f) => f.slice(5, f.length - 2).join('/'));
  }
}

/** key=value lines of an os-release file. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=("?)(.*)\2\s*$/.exec(line.trim());
    if (m) out[m[1]!] = m[3]!;
  }
  return out;
}

/** Installed package versions from dpkg's status file. */
export function parseDpkgStatus(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const block of text.split(/\n\n+/)) {
    const name = /^Package: (.+)$/m.exec(block)?.[1];
    const version = /^Version: (.+)$/m.exec(block)?.[1];
    if (name && version && /^Status: .* installed$/m.test(block)) out[name] = version;
  }
  return out;
}

/** Interfaces named in a network configuration file. */
export function interfacesIn(renderer: string, text: string): string[] {
  const names = new Set<string>();
  if (renderer === 'ifupdown') for (const m of text.matchAll(/^\s*iface\s+(\S+)\s+inet6?\s/gm)) if (m[1] !== 'lo') names.add(m[1]!);
  if (renderer === 'networkd') for (const m of text.matchAll(/^\s*Name=(.+)$/gm)) for (const n of m[1]!.trim().split(/\s+/)) names.add(n);
  if (renderer === 'netplan') {
    const block = /ethernets:\s*\n((?:\s{4,}.*\n?)*)/.exec(text)?.[1] ?? '';
    for (const m of block.matchAll(/^\s{4}([A-Za-z0-9_.*-]+):/gm)) names.add(m[1]!);
  }
  return [...names];
}

function majorVersion(version: string | undefined): number | undefined {
  const m = /^(?:\d+:)?(\d+)/.exec(version ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Reads `image` and reports what it contains and what will not boot on Xen. Never mounts anything. */
export async function inspectImage(image: string, opts: InspectOptions): Promise<ImageReport> {
  if (!existsSync(image)) throw new ImageError('TXL_IMG_INSPECT', `${image} does not exist`, { details: { image } });
  const st = statSync(image);
  const { offset, table, partition } = filesystemOffset(image);
  const fs = new DebugfsReader(opts.runner, e2fsTarget(image, offset));
  const warnings: string[] = [];

  const osText = (await fs.readText('/etc/os-release')) ?? (await fs.readText('/usr/lib/os-release'));
  const os = parseOsRelease(osText ?? (await fs.readText('/etc/lsb-release'))?.replace(/^DISTRIB_/gm, '') ?? '');
  const distribution = {
    id: os.ID ?? (os.DISTRIB_ID ?? 'unknown').toLowerCase(),
    version: os.VERSION_ID ?? os.RELEASE ?? (await fs.readText('/etc/debian_version'))?.trim() ?? '',
    codename: os.VERSION_CODENAME ?? os.CODENAME ?? '',
    prettyName: os.PRETTY_NAME ?? os.DESCRIPTION ?? 'unknown',
  };
  if (distribution.id === 'unknown' && !osText) warnings.push('no /etc/os-release: is this a root filesystem?');
  const packages = parseDpkgStatus((await fs.readText('/var/lib/dpkg/status')) ?? '');

  // Init system: what /sbin/init is (systemd-sysv links it to systemd), else upstart's or sysvinit's files.
  const initTarget = (await fs.resolve('/sbin/init')) ?? '';
  const init: ImageReport['init'] = initTarget.includes('systemd')
    ? 'systemd'
    : packages.upstart !== undefined || (await fs.exists('/etc/init/rc.conf'))
      ? 'upstart'
      : (await fs.exists('/etc/inittab'))
        ? 'sysvinit'
        : 'unknown';
  if (init === 'unknown') warnings.push('no init system found (/sbin/init is missing): the guest kernel will panic after mounting root');

  // Kernels.
  const boot = await fs.list('/boot');
  const kernels: KernelReport[] = [];
  for (const name of boot.filter((n) => n.startsWith('vmlinuz-')).sort()) {
    const version = name.slice('vmlinuz-'.length);
    const config: Record<string, string> = {};
    const cfgText = (await fs.readText(`/boot/config-${version}`)) ?? '';
    for (const opt of KERNEL_OPTIONS) {
      const m = new RegExp(`^${opt}=(\\w+)`, 'm').exec(cfgText);
      if (m) config[opt] = m[1]!;
    }
    let pv: boolean | undefined;
    let detail = 'not checked';
    if (opts.checkKernel) {
      const bytes = await fs.readBytes(`/boot/${name}`);
      const r = bytes ? await opts.checkKernel(bytes, `${image}:/boot/${name}`) : { pv: false, detail: 'cannot read it' };
      pv = r.pv;
      detail = r.detail;
    } else if (cfgText) {
      pv = config.CONFIG_XEN_PV === 'y';
      detail = `from /boot/config-${version} (no ELF note check)`;
    }
    const initrd = boot.includes(`initrd.img-${version}`) ? `/boot/initrd.img-${version}` : undefined;
    kernels.push({ version, path: `/boot/${name}`, initrd, pv, detail, config });
    if (pv === false) warnings.push(`kernel ${version} cannot boot as a Xen PV guest: ${detail}`);
    if (config.CONFIG_XEN_BLKDEV_FRONTEND === 'm' && !initrd) warnings.push(`kernel ${version} has xen-blkfront as a module but no initrd: the root disk xvda will not be found`);
    if (cfgText && !config.CONFIG_XEN_BLKDEV_FRONTEND) warnings.push(`kernel ${version} has no Xen block frontend (CONFIG_XEN_BLKDEV_FRONTEND): no xvda`);
    if (cfgText && config.CONFIG_HVC_XEN !== 'y') warnings.push(`kernel ${version} has no Xen console (CONFIG_HVC_XEN=y): nothing on xl console`);
  }
  if (!kernels.length) warnings.push('no kernel in /boot: the image can only boot with a kernel from dom0 (kernel= in the cfg)');
  const initramfsConf = (await fs.readText('/etc/initramfs-tools/initramfs.conf')) ?? '';
  if (/^MODULES=dep/m.test(initramfsConf)) warnings.push('initramfs-tools MODULES=dep: the initrd may lack xen-blkfront (dep looks at the build host); use MODULES=most');

  // Console.
  let consoleInfo: ImageReport['console'];
  if (init === 'systemd') {
    const wants = await fs.list('/etc/systemd/system/getty.target.wants');
    consoleInfo = wants.includes('serial-getty@hvc0.service')
      ? { hvc0: true, how: 'serial-getty@hvc0.service enabled' }
      : { hvc0: true, how: "systemd's getty generator starts serial-getty@hvc0 when /dev/hvc0 exists (not enabled explicitly)" };
  } else if (init === 'upstart') {
    const conf = await fs.readText('/etc/init/hvc0.conf');
    consoleInfo = conf?.includes('hvc0') ? { hvc0: true, how: '/etc/init/hvc0.conf' } : { hvc0: false, how: 'no /etc/init/hvc0.conf' };
  } else if (init === 'sysvinit') {
    const inittab = (await fs.readText('/etc/inittab')) ?? '';
    consoleInfo = /^[^#].*getty.*hvc0/m.test(inittab) ? { hvc0: true, how: 'getty on hvc0 in /etc/inittab' } : { hvc0: false, how: 'no hvc0 getty in /etc/inittab' };
  } else consoleInfo = { hvc0: false, how: 'unknown init system' };
  if (!consoleInfo.hvc0) warnings.push(`no getty on hvc0 (${consoleInfo.how}): 'xl console' will show no login: prompt`);

  // Network.
  let network: ImageReport['network'] = { renderer: 'none', interfaces: [], file: undefined, text: undefined };
  const netplanFiles = (await fs.list('/etc/netplan')).filter((n) => n.endsWith('.yaml'));
  const networkdFiles = (await fs.list('/etc/systemd/network')).filter((n) => n.endsWith('.network'));
  const ifupdown = await fs.readText('/etc/network/interfaces');
  const candidates: [string, string | undefined][] = [
    ...netplanFiles.map((n): [string, string] => ['netplan', `/etc/netplan/${n}`]),
    ...networkdFiles.map((n): [string, string] => ['networkd', `/etc/systemd/network/${n}`]),
  ];
  for (const [renderer, file] of candidates) {
    const text = (await fs.readText(file!)) ?? '';
    const ifaces = interfacesIn(renderer, text);
    if (ifaces.length) {
      network = { renderer, interfaces: ifaces, file, text };
      break;
    }
  }
  if (network.renderer === 'none' && ifupdown !== undefined) {
    network = { renderer: 'ifupdown', interfaces: interfacesIn('ifupdown', ifupdown), file: '/etc/network/interfaces', text: ifupdown };
  }
  if (!network.interfaces.length) warnings.push('no network interface is configured (only lo): the guest will have no network');
  const systemdMajor = majorVersion(packages.udev ?? packages.systemd);
  // systemd >= 250 names the Xen netfront NIC enX<n> (its "X" naming); older ones keep eth<n>.
  const expected = systemdMajor !== undefined && systemdMajor >= 250 ? 'enX0' : 'eth0';
  const wildcard = (n: string): boolean => n.includes('*');
  if (network.interfaces.length && !network.interfaces.some((n) => n === expected || (wildcard(n) && new RegExp(`^${n.replace(/\*/g, '.*')}$`).test(expected)))) {
    warnings.push(
      `network config names ${network.interfaces.join(', ')} but the Xen NIC will be ${expected}${systemdMajor !== undefined ? ` (udev/systemd ${systemdMajor})` : ''}: add net.ifnames=0 to the kernel command line or rename it`,
    );
  }

  // fstab.
  const fstab = await fs.readText('/etc/fstab');
  const rootLine = fstab?.split('\n').find((l) => !l.trim().startsWith('#') && l.trim().split(/\s+/)[1] === '/');
  if (!rootLine) warnings.push('/etc/fstab has no entry for / (the root stays read-only after boot)');
  else {
    const dev = rootLine.trim().split(/\s+/)[0]!;
    if (/^\/dev\/(sd|vd|hd|nvme)/.test(dev)) warnings.push(`/etc/fstab mounts / from ${dev}: Xen PV disks are /dev/xvd* (vdev=xvda)`);
  }
  const hostname = (await fs.readText('/etc/hostname'))?.trim();
  return {
    image,
    apparentBytes: st.size,
    allocatedBytes: st.blocks * 512,
    filesystemOffset: offset,
    partitionTable: table,
    partition,
    distribution,
    init,
    packages,
    kernels,
    console: consoleInfo,
    network,
    fstab,
    hostname,
    warnings,
  };
}

/** The report as text for people. */
export function formatInspection(r: ImageReport): string {
  const lines = [
    `${r.image}: ${r.distribution.prettyName}${r.distribution.codename && !r.distribution.prettyName.includes(r.distribution.codename) ? ` (${r.distribution.codename})` : ''}, init ${r.init}, host name ${r.hostname ?? '?'}`,
    `  size: ${r.apparentBytes} bytes apparent, ${r.allocatedBytes} allocated; filesystem ${r.partition === undefined ? 'on the whole disk' : `in ${r.partitionTable.toUpperCase()} partition ${r.partition} at offset ${r.filesystemOffset}`}`,
    `  kernels:${r.kernels.length ? '' : ' none'}`,
    ...r.kernels.map((k) => `    ${k.version}: ${k.pv === undefined ? 'PV not checked' : k.pv ? 'boots as Xen PV' : 'NOT a Xen PV kernel'} (${k.detail}); initrd ${k.initrd ?? 'missing'}`),
    `  console: ${r.console.hvc0 ? 'hvc0 login' : 'NO hvc0 login'} (${r.console.how})`,
    `  network: ${r.network.renderer}${r.network.file ? ` in ${r.network.file}` : ''}: ${r.network.interfaces.join(', ') || 'none'}`,
    `  fstab: ${(r.fstab ?? 'missing').split('\n').filter((l) => l.trim() && !l.startsWith('#')).join(' | ')}`,
    ...r.warnings.map((w) => `warning: ${w}`),
  ];
  return `${lines.join('\n')}\n`;
}
