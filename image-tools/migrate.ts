// Starting points for new recipes: `txl template new NAME --from TEMPLATE` (a recipe that names its
// template), and Ubuntu -> Debian migration of a recipe or of an existing xl domain config, keeping the
// host name, network and disk layout. The mapping is documented in templates/README.md.
import { stringify } from 'yaml';
import { ImageError } from './errors.js';
import type { RawRecipe } from './recipe.js';

/** One decision the migration made, for the comments of the new recipe and for the CLI. */
export interface MigrationNote {
  readonly key: string;
  readonly from: string;
  readonly to: string;
  readonly why: string;
}

/** Debian suite for each Ubuntu suite (the next Debian release at least as new). */
export const UBUNTU_TO_DEBIAN_SUITE: Readonly<Record<string, 'bookworm' | 'trixie'>> = { lucid: 'bookworm', jammy: 'bookworm', noble: 'trixie' };

/** Ubuntu package names with a different Debian name ('' = not needed on Debian). */
export const PACKAGE_MAP: Readonly<Record<string, string>> = {
  'linux-image-virtual': 'linux-image-cloud-amd64',
  'linux-image-generic': 'linux-image-amd64',
  'dhcp3-client': 'isc-dhcp-client',
  'netplan.io': '', // Debian templates write ifupdown (bookworm) or networkd (trixie) directly
  'ubuntu-minimal': '',
  'ubuntu-server': '',
  upstart: '',
};

const str = (v: unknown): string => (v === undefined ? '(unset)' : Array.isArray(v) ? `[${v.join(', ')}]` : typeof v === 'object' && v ? JSON.stringify(v) : String(v));

/**
 * A Debian recipe equivalent to an Ubuntu one (raw, merged with its template): same host name, network
 * addressing, disk size/filesystem/partitioning, accounts, locale, time zone and domain settings.
 */
export function migrateToDebian(ubuntu: RawRecipe, opts: { suite?: 'bookworm' | 'trixie' } = {}): { raw: RawRecipe; notes: MigrationNote[] } {
  if (ubuntu.distribution !== 'ubuntu') {
    throw new ImageError('TXL_IMG_RECIPE', `only Ubuntu recipes are migrated to Debian (this one is ${str(ubuntu.distribution)})`);
  }
  const fromSuite = String(ubuntu.suite);
  const suite = opts.suite ?? UBUNTU_TO_DEBIAN_SUITE[fromSuite] ?? 'bookworm';
  const notes: MigrationNote[] = [];
  const note = (key: string, from: unknown, to: unknown, why: string): void => void notes.push({ key, from: str(from), to: str(to), why });
  const out: Record<string, unknown> = { template: `debian-${suite}` };
  note('template', ubuntu.template ?? `ubuntu-${fromSuite}`, out.template, `Ubuntu ${fromSuite} maps to Debian ${suite}; the Debian template brings mirror, components, base packages and kernel`);
  note('distribution/suite', `ubuntu ${fromSuite}`, `debian ${suite}`, 'deb.debian.org replaces archive.ubuntu.com; components main (Ubuntu: main universe)');

  for (const key of ['name', 'hostname', 'size', 'filesystem', 'partitioned', 'locale', 'timezone', 'root', 'users', 'domain'] as const) {
    if (ubuntu[key] !== undefined) out[key] = ubuntu[key];
  }
  const kernel = (ubuntu.kernel ?? {}) as Record<string, unknown>;
  if (kernel.package !== undefined) {
    const mapped = PACKAGE_MAP[String(kernel.package)];
    note('kernel.package', kernel.package, mapped || 'linux-image-cloud-amd64', "Debian's cloud kernel: Xen PV, hvc console built in, blkfront/netfront as modules in the initrd");
  }
  if (kernel.cmdline) out.kernel = { cmdline: kernel.cmdline };
  if (ubuntu.init === 'upstart' || ubuntu.init === 'sysvinit') {
    note('init', ubuntu.init, 'systemd', 'the hvc0 console becomes serial-getty@hvc0.service (no /etc/init/hvc0.conf); /etc/securetty is not used by Debian >= 11');
  }
  const extra = [...new Set([...((ubuntu.extraPackages as string[] | undefined) ?? [])])];
  const mappedExtra = extra.map((p) => PACKAGE_MAP[p] ?? p).filter((p) => p !== '');
  if (mappedExtra.length) out.extraPackages = mappedExtra;
  for (const p of extra.filter((q) => PACKAGE_MAP[q] !== undefined)) note(`extraPackages ${p}`, p, PACKAGE_MAP[p] || '(dropped)', 'Debian name');

  const net = (ubuntu.network ?? {}) as Record<string, unknown>;
  const debianNet: Record<string, unknown> = {};
  for (const k of ['dhcp', 'address', 'gateway', 'nameservers']) if (net[k] !== undefined) debianNet[k] = net[k];
  const renderer = suite === 'bookworm' ? 'ifupdown' : 'networkd';
  note('network.renderer', net.renderer ?? 'netplan', renderer, suite === 'bookworm' ? 'Debian 12 servers use ifupdown (/etc/network/interfaces)' : 'the debian-trixie template uses systemd-networkd');
  if (net.interface !== undefined && net.interface !== 'enX0') {
    note('network.interface', net.interface, 'enX0', 'Debian >= 12 (systemd >= 250) names the Xen NIC enX0; eth0 configs leave the guest offline (xen-tools#65)');
  }
  debianNet.interface = 'enX0';
  out.network = debianNet;
  return { raw: out, notes };
}

/** Facts of an existing xl domain config (read by the CLI with toolstack/config), for migration. */
export interface XlGuestFacts {
  readonly name: string;
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly cmdline: string | undefined;
  /** The first disk: its vdev and, when the file exists, its size. */
  readonly disk: { readonly vdev: string; readonly sizeBytes: number | undefined } | undefined;
  readonly vif: { readonly bridge: string; readonly ip: string | undefined } | undefined;
}

/**
 * An Ubuntu-shaped raw recipe describing an existing xl guest (host name, memory, vCPUs, disk size and
 * layout, bridge, address), ready for migrateToDebian. `suite` is the Ubuntu release it runs.
 */
export function recipeFromXlGuest(facts: XlGuestFacts, suite: string): { raw: RawRecipe; notes: MigrationNote[] } {
  const notes: MigrationNote[] = [];
  const raw: Record<string, unknown> = { distribution: 'ubuntu', suite, name: facts.name, hostname: facts.name };
  raw.domain = { memory: facts.memoryMiB, vcpus: facts.vcpus, ...(facts.vif ? { bridge: facts.vif.bridge } : {}) };
  const root = /(?:^|\s)root=(\S+)/.exec(facts.cmdline ?? '')?.[1];
  if (root && /^\/dev\/xvd[a-z]\d+$/.test(root)) {
    raw.partitioned = true;
    notes.push({ key: 'partitioned', from: `root=${root}`, to: 'true', why: 'the old guest booted from a partition; the new image has one partition (xvda1)' });
  }
  if (facts.disk?.sizeBytes) {
    raw.size = `${Math.ceil(facts.disk.sizeBytes / 1024 ** 2)}M`;
    notes.push({ key: 'size', from: facts.disk.vdev, to: String(raw.size), why: 'same size as the old disk image' });
  }
  if (facts.vif?.ip) {
    // xl's ip= is the guest's address for the vif scripts; the prefix is not in the cfg: /24 assumed.
    raw.network = { dhcp: false, address: facts.vif.ip.includes('/') ? facts.vif.ip : `${facts.vif.ip}/24` };
    notes.push({ key: 'network.address', from: `ip=${facts.vif.ip}`, to: String((raw.network as Record<string, string>).address), why: 'static address from the vif; check the prefix length and add gateway:' });
  } else raw.network = { dhcp: true };
  const ifnames0 = /(?:^|\s)net\.ifnames=0(?:\s|$)/.test(facts.cmdline ?? '');
  if (ifnames0) raw.kernel = { cmdline: 'net.ifnames=0' };
  return { raw, notes };
}

/** Text of a new recipe file: a header, the migration notes as comments, then the settings as YAML. */
export function newRecipeText(raw: RawRecipe, header: readonly string[], notes: readonly MigrationNote[] = []): string {
  const lines = header.map((h) => `# ${h}`);
  if (notes.length) {
    lines.push('#', '# Migration decisions (Ubuntu -> Debian):');
    for (const n of notes) lines.push(`#   ${n.key}: ${n.from} -> ${n.to}: ${n.why}`);
  }
  return `${lines.join('\n')}\n${stringify(raw, { lineWidth: 0 })}`;
}
