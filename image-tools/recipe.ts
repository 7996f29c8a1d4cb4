// Image recipes: YAML files (and the templates they start from) parsed, validated against a schema with
// line numbers and nearest-key suggestions, merged over their template, and resolved to a plain Recipe.
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { didYouMean } from '../common/suggest.js';
import { looksLikeCryptHash, sha512Crypt } from './crypt.js';
import { FILESYSTEMS, MIN_IMAGE_BYTES, PARTITION_TABLES, type Filesystem, type PartitionTable } from './disk.js';
import { ImageError } from './errors.js';
import { formatSize, parseSize } from './size.js';

/** Distributions and the suites txl knows, with what each suite needs. */
export const DISTRIBUTIONS = {
  debian: {
    mirror: 'http://deb.debian.org/debian',
    suites: { bookworm: { version: '12' }, trixie: { version: '13' } },
  },
  ubuntu: {
    mirror: 'http://archive.ubuntu.com/ubuntu',
    suites: {
      lucid: { version: '10.04', mirror: 'http://old-releases.ubuntu.com/ubuntu' },
      jammy: { version: '22.04' },
      noble: { version: '24.04' },
    },
  },
} as const satisfies Record<string, { mirror: string; suites: Record<string, { version: string; mirror?: string }> }>;
export type Distribution = keyof typeof DISTRIBUTIONS;

export const INIT_SYSTEMS = ['systemd', 'sysvinit', 'upstart'] as const;
export const NETWORK_RENDERERS = ['ifupdown', 'networkd', 'netplan'] as const;
export const VARIANTS = ['minbase', 'essential', 'apt', 'required', 'important', 'standard'] as const;

/** A user account of the guest. */
export interface RecipeUser {
  readonly name: string;
  /** crypt(3) hash for /etc/shadow; undefined: the account has no password (key login only). */
  readonly passwordHash: string | undefined;
  readonly sshKeys: readonly string[];
  readonly groups: readonly string[];
  readonly shell: string;
}

/** A validated, resolved recipe: everything a build plan needs, defaults applied. */
export interface Recipe {
  readonly name: string;
  /** The template this recipe started from (undefined for a template itself). */
  readonly template: string | undefined;
  readonly distribution: Distribution;
  readonly suite: string;
  readonly mirror: string;
  readonly components: readonly string[];
  readonly variant: (typeof VARIANTS)[number];
  /** Packages installed besides the variant's set (kernel, init, network tools, extras). */
  readonly packages: readonly string[];
  readonly kernel: { readonly package: string; readonly cmdline: string };
  readonly init: (typeof INIT_SYSTEMS)[number];
  readonly sizeBytes: number;
  readonly filesystem: Filesystem;
  readonly partitioned: boolean;
  /** Table of a partitioned image (gpt unless the recipe says mbr). */
  readonly partitionTable: PartitionTable;
  readonly hostname: string;
  readonly network: {
    readonly renderer: (typeof NETWORK_RENDERERS)[number];
    readonly interface: string;
    readonly dhcp: boolean;
    /** IPv4 address with prefix length, e.g. 192.0.2.10/24 (static only). */
    readonly address: string | undefined;
    readonly gateway: string | undefined;
    readonly nameservers: readonly string[];
  };
  readonly root: { readonly passwordHash: string | undefined; readonly sshKeys: readonly string[] };
  readonly users: readonly RecipeUser[];
  readonly locale: string;
  readonly timezone: string;
  /** Settings of the generated NAME.cfg. */
  readonly domain: { readonly memoryMiB: number; readonly vcpus: number; readonly bridge: string };
  /** Overlay trees copied into the root (absolute paths), template's first. */
  readonly overlays: readonly string[];
}

/** A recipe and what was noticed while reading it. */
export interface LoadedRecipe {
  readonly recipe: Recipe;
  readonly warnings: readonly string[];
}

// ---- the schema -------------------------------------------------------------------------------

type FieldSpec =
  | { readonly type: 'string' | 'int' | 'bool' | 'size' | 'stringOrInt'; readonly doc: string }
  | { readonly type: 'enum'; readonly values: readonly string[]; readonly doc: string }
  | { readonly type: 'list'; readonly item: FieldSpec; readonly doc: string }
  | { readonly type: 'map'; readonly keys: Readonly<Record<string, FieldSpec>>; readonly doc: string };

const str = (doc: string): FieldSpec => ({ type: 'string', doc });
const strList = (doc: string): FieldSpec => ({ type: 'list', item: { type: 'string', doc }, doc });

/** Every key a recipe may have (templates use the same schema). */
export const RECIPE_SCHEMA: FieldSpec = {
  type: 'map',
  doc: 'recipe',
  keys: {
    name: str('base name of the outputs: NAME.img, NAME.cfg'),
    template: str('template this recipe starts from (txl template list)'),
    description: str('free text'),
    distribution: { type: 'enum', values: Object.keys(DISTRIBUTIONS), doc: 'debian or ubuntu' },
    suite: str('release code name: bookworm, trixie, noble, jammy, lucid'),
    mirror: str('package mirror URL'),
    components: strList('archive components, e.g. [main]'),
    variant: { type: 'enum', values: VARIANTS, doc: 'mmdebstrap variant' },
    packages: strList('packages to install (replaces the template list)'),
    extraPackages: strList('packages to install on top of the template list'),
    kernel: {
      type: 'map',
      doc: 'guest kernel',
      keys: { package: str('kernel package installed in the image'), cmdline: str('extra kernel command line for NAME.cfg') },
    },
    init: { type: 'enum', values: INIT_SYSTEMS, doc: 'init system of the guest (decides the hvc0 console set-up)' },
    size: { type: 'stringOrInt', doc: 'image size, e.g. 4G' },
    filesystem: { type: 'enum', values: FILESYSTEMS, doc: 'root filesystem' },
    partitioned: { type: 'bool', doc: 'one partition (xvda1) instead of a whole-disk filesystem (xvda)' },
    partitionTable: { type: 'enum', values: PARTITION_TABLES, doc: 'table of a partitioned image: gpt (default) or mbr (old bootloaders)' },
    hostname: str('guest host name'),
    network: {
      type: 'map',
      doc: 'guest network',
      keys: {
        renderer: { type: 'enum', values: NETWORK_RENDERERS, doc: 'how the config is written' },
        interface: str('interface name in the guest (enX0 on systemd >= 250, else eth0)'),
        dhcp: { type: 'bool', doc: 'DHCP (true) or static (false)' },
        address: str('static IPv4 address with prefix, e.g. 192.0.2.10/24'),
        gateway: str('static default gateway'),
        nameservers: strList('DNS servers'),
      },
    },
    root: {
      type: 'map',
      doc: 'root account',
      keys: {
        password: str('clear-text password (hashed at build time; prefer passwordHash)'),
        passwordHash: str('crypt(3) hash, e.g. from openssl passwd -6'),
        sshKeys: strList('authorized_keys lines'),
      },
    },
    users: {
      type: 'list',
      doc: 'extra accounts',
      item: {
        type: 'map',
        doc: 'account',
        keys: {
          name: str('login name'),
          password: str('clear-text password (hashed at build time)'),
          passwordHash: str('crypt(3) hash'),
          sshKeys: strList('authorized_keys lines'),
          groups: strList('supplementary groups'),
          shell: str('login shell'),
        },
      },
    },
    locale: str('LANG, e.g. C.UTF-8 or en_US.UTF-8'),
    timezone: str('zoneinfo name, e.g. Etc/UTC or Europe/Berlin'),
    domain: {
      type: 'map',
      doc: 'NAME.cfg settings',
      keys: { memory: { type: 'int', doc: 'MiB' }, vcpus: { type: 'int', doc: 'virtual CPUs' }, bridge: str('dom0 bridge for the vif') },
    },
  },
};

// ---- parsing with positions -------------------------------------------------------------------

/** A recipe problem at a place in a file. */
interface Problem {
  readonly line: number | undefined;
  readonly path: string;
  readonly message: string;
}

function lineOf(node: YamlNode | null | undefined, counter: LineCounter): number | undefined {
  const start = node?.range?.[0];
  return start === undefined ? undefined : counter.linePos(start).line;
}

/** Converts a YAML node to plain data while checking it against `spec`; problems are collected. */
function check(node: YamlNode | null | undefined, spec: FieldSpec, path: string, counter: LineCounter, problems: Problem[]): unknown {
  const line = lineOf(node, counter);
  const bad = (message: string): undefined => {
    problems.push({ line, path, message });
    return undefined;
  };
  if (node === null || node === undefined || (isScalar(node) && node.value === null)) return bad(`has no value (${spec.doc})`);
  switch (spec.type) {
    case 'map': {
      if (!isMap(node)) return bad(`must be a mapping of keys (${spec.doc})`);
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        const keyNode = pair.key as YamlNode;
        const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
        const keyPath = path ? `${path}.${key}` : key;
        const sub = spec.keys[key];
        if (!sub) {
          problems.push({ line: lineOf(keyNode, counter), path: keyPath, message: `unknown key${didYouMean(key, Object.keys(spec.keys))}; known keys here: ${Object.keys(spec.keys).join(', ')}` });
          continue;
        }
        if (key in out) problems.push({ line: lineOf(keyNode, counter), path: keyPath, message: 'appears twice' });
        out[key] = check(pair.value as YamlNode, sub, keyPath, counter, problems);
      }
      return out;
    }
    case 'list': {
      if (!isSeq(node)) return bad(`must be a list (${spec.doc})`);
      return node.items.map((item, i) => check(item as YamlNode, spec.item, `${path}[${i}]`, counter, problems));
    }
    default: {
      if (!isScalar(node)) return bad(`must be a single value (${spec.doc})`);
      const v = node.value;
      switch (spec.type) {
        case 'string':
          return typeof v === 'string' || typeof v === 'number' ? String(v) : bad(`must be text, not ${typeof v} (${spec.doc})`);
        case 'stringOrInt':
          return typeof v === 'string' || typeof v === 'number' ? v : bad(`must be a size such as 4G (${spec.doc})`);
        case 'int':
          return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : bad(`must be a positive whole number (${spec.doc})`);
        case 'bool':
          return typeof v === 'boolean' ? v : bad(`must be true or false, not '${String(v)}'`);
        case 'size':
          return v;
        case 'enum':
          return typeof v === 'string' && spec.values.includes(v)
            ? v
            : bad(`'${String(v)}' is not one of ${spec.values.join(', ')}${didYouMean(String(v), spec.values)}`);
      }
    }
  }
}

function fail(file: string, problems: readonly Problem[]): never {
  const lines = problems.map((p) => `${file}${p.line !== undefined ? `:${p.line}` : ''}: ${p.path || '(top)'}: ${p.message}`);
  throw new ImageError('TXL_IMG_RECIPE', lines.length === 1 ? lines[0]! : `${problems.length} problems in ${file}:\n  ${lines.join('\n  ')}`, {
    details: { file, problems: lines },
  });
}

/** A recipe file's raw settings: YAML parsed and checked against the schema (no defaults yet). */
export type RawRecipe = Readonly<Record<string, unknown>>;

/** Parses and schema-checks recipe YAML text. Throws TXL_IMG_RECIPE with file:line for every problem. */
export function parseRecipeText(text: string, file: string): RawRecipe {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: false });
  if (doc.errors.length) {
    fail(
      file,
      doc.errors.map((e) => ({ line: e.linePos?.[0]?.line ?? counter.linePos(e.pos[0]).line, path: '', message: `invalid YAML: ${e.message.split('\n')[0]}` })),
    );
  }
  if (doc.contents === null) fail(file, [{ line: undefined, path: '', message: 'the file is empty; a recipe needs at least template: or distribution: and suite:' }]);
  const problems: Problem[] = [];
  const raw = check(doc.contents as YamlNode, RECIPE_SCHEMA, '', counter, problems) as RawRecipe | undefined;
  if (problems.length) fail(file, problems);
  return raw ?? {};
}

/** Reads and schema-checks a recipe file. */
export function readRecipeFile(path: string): RawRecipe {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ImageError('TXL_IMG_RECIPE', `cannot read recipe ${path}: ${(error as Error).message}`, { details: { path }, cause: error });
  }
  return parseRecipeText(text, path);
}

/** Deep-merges recipe layers: maps merge key by key, lists and values of later layers replace earlier ones. */
export function mergeRaw(base: RawRecipe, over: RawRecipe): RawRecipe {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && b && typeof v === 'object' && typeof b === 'object' && !Array.isArray(v) && !Array.isArray(b)
        ? mergeRaw(b as RawRecipe, v as RawRecipe)
        : v;
  }
  return out;
}

// ---- resolution -------------------------------------------------------------------------------

const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const SSH_KEY = /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp\d+|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( .*)?$/;
const NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
const PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;

/** Options of resolveRecipe. */
export interface ResolveOptions {
  /** Name of the recipe file, for messages. */
  readonly file: string;
  /** Salt for hashing clear-text passwords (tests pass a fixed one; random otherwise). */
  readonly salt?: string;
  /** Overlay folders of the template chain. */
  readonly overlays?: readonly string[];
  /** Output name when the recipe has none. */
  readonly defaultName?: string;
}

/**
 * Applies defaults and checks the values (hostnames, addresses, keys, sizes...) of merged raw settings.
 * Clear-text passwords are hashed with SHA-512 crypt and reported in `warnings`.
 */
export function resolveRecipe(raw: RawRecipe, opts: ResolveOptions): LoadedRecipe {
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const at = (path: string, message: string): void => void problems.push({ line: undefined, path, message });
  const get = <T>(path: string): T | undefined => {
    let v: unknown = raw;
    for (const part of path.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
    return v as T | undefined;
  };

  const distribution = get<string>('distribution');
  let dist: (typeof DISTRIBUTIONS)[Distribution] | undefined;
  if (distribution === undefined) at('distribution', `is required (one of ${Object.keys(DISTRIBUTIONS).join(', ')}), or name a template: with template:`);
  else dist = DISTRIBUTIONS[distribution as Distribution];
  const suite = get<string>('suite');
  let suiteInfo: { version: string; mirror?: string } | undefined;
  if (suite === undefined) at('suite', 'is required');
  else if (dist) {
    suiteInfo = (dist.suites as Record<string, { version: string; mirror?: string }>)[suite];
    if (!suiteInfo) at('suite', `'${suite}' is not a ${distribution} suite txl knows${didYouMean(suite, Object.keys(dist.suites))}; known: ${Object.keys(dist.suites).join(', ')}`);
  }

  let sizeBytes = 0;
  const size = get<string | number>('size') ?? '4G';
  try {
    sizeBytes = parseSize(size, 'size');
    if (sizeBytes < MIN_IMAGE_BYTES) at('size', `${formatSize(sizeBytes)} is too small; at least ${formatSize(MIN_IMAGE_BYTES)}`);
  } catch (error) {
    at('size', (error as Error).message.replace(/^size: /, ''));
  }

  const hostname = get<string>('hostname') ?? get<string>('name') ?? opts.defaultName ?? 'domu';
  if (!HOSTNAME.test(hostname)) at('hostname', `'${hostname}' is not a valid host name (letters, digits, hyphens; dot-separated labels of at most 63)`);
  const name = get<string>('name') ?? opts.defaultName ?? hostname.split('.')[0]!;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) at('name', `'${name}' cannot be a file name (letters, digits, . _ -)`);

  const init = get<Recipe['init']>('init') ?? 'systemd';
  const dhcp = get<boolean>('network.dhcp') ?? true;
  const address = get<string>('network.address');
  const gateway = get<string>('network.gateway');
  const nameservers = get<string[]>('network.nameservers') ?? [];
  if (!dhcp) {
    if (!address) at('network.address', 'is required when network.dhcp is false (e.g. 192.0.2.10/24)');
    else {
      const [ip, prefix] = address.split('/');
      if (!IPV4.test(ip ?? '') || prefix === undefined || !/^\d+$/.test(prefix) || Number(prefix) > 32) at('network.address', `'${address}' is not an IPv4 address with a prefix length such as 192.0.2.10/24`);
    }
  } else if (address) warnings.push(`${opts.file}: network.address is ignored because network.dhcp is true`);
  if (gateway && !IPV4.test(gateway)) at('network.gateway', `'${gateway}' is not an IPv4 address`);
  nameservers.forEach((ns, i) => IPV4.test(ns) || /^[0-9a-fA-F:]+$/.test(ns) || at(`network.nameservers[${i}]`, `'${ns}' is not an IP address`));

  const hashFor = (path: string): string | undefined => {
    const clear = get<string>(`${path}.password`);
    const hash = get<string>(`${path}.passwordHash`);
    if (clear !== undefined && hash !== undefined) at(`${path}.password`, 'give either password or passwordHash, not both');
    if (hash !== undefined) {
      if (!looksLikeCryptHash(hash)) at(`${path}.passwordHash`, "is not a crypt(3) hash ('$6$salt$...'); make one with: openssl passwd -6");
      return hash;
    }
    if (clear !== undefined) {
      warnings.push(`${opts.file}: ${path}.password is clear text; it is hashed with SHA-512 crypt for the image, but anyone who reads the recipe knows it (use passwordHash: from 'openssl passwd -6')`);
      return sha512Crypt(clear, opts.salt !== undefined ? { salt: opts.salt } : {});
    }
    return undefined;
  };
  const keysAt = (path: string): string[] => {
    const keys = get<string[]>(`${path}.sshKeys`) ?? [];
    keys.forEach((k, i) => SSH_KEY.test(k.trim()) || at(`${path}.sshKeys[${i}]`, `does not look like an OpenSSH public key ('ssh-ed25519 AAAA... comment')`));
    return keys.map((k) => k.trim());
  };
  const rootHash = hashFor('root');
  const rootKeys = keysAt('root');
  if (rootHash === undefined && rootKeys.length === 0) warnings.push(`${opts.file}: root has neither a password nor ssh keys: root cannot log in`);

  const rawUsers = get<Record<string, unknown>[]>('users') ?? [];
  const users: RecipeUser[] = [];
  rawUsers.forEach((u, i) => {
    const path = `users[${i}]`;
    const userName = u.name as string | undefined;
    if (!userName || !NAME.test(userName)) at(`${path}.name`, `'${userName ?? ''}' is not a valid login name (lower case, digits, _ -; starts with a letter)`);
    const resolvedHash = ((): string | undefined => {
      const clear = u.password as string | undefined;
      const hash = u.passwordHash as string | undefined;
      if (clear !== undefined && hash !== undefined) at(`${path}.password`, 'give either password or passwordHash, not both');
      if (hash !== undefined) {
        if (!looksLikeCryptHash(hash)) at(`${path}.passwordHash`, 'is not a crypt(3) hash');
        return hash;
      }
      if (clear !== undefined) {
        warnings.push(`${opts.file}: ${path}.password is clear text; it is hashed with SHA-512 crypt (prefer passwordHash)`);
        return sha512Crypt(clear, opts.salt !== undefined ? { salt: opts.salt } : {});
      }
      return undefined;
    })();
    const sshKeys = ((u.sshKeys as string[] | undefined) ?? []).map((k) => k.trim());
    sshKeys.forEach((k, j) => SSH_KEY.test(k) || at(`${path}.sshKeys[${j}]`, 'does not look like an OpenSSH public key'));
    users.push({ name: userName ?? '', passwordHash: resolvedHash, sshKeys, groups: (u.groups as string[] | undefined) ?? [], shell: (u.shell as string | undefined) ?? '/bin/bash' });
  });

  const packages = [...(get<string[]>('packages') ?? []), ...(get<string[]>('extraPackages') ?? [])];
  const kernelPackage = get<string>('kernel.package') ?? (distribution === 'ubuntu' ? 'linux-image-virtual' : 'linux-image-cloud-amd64');
  for (const [i, p] of [...packages, kernelPackage].entries()) if (!PACKAGE.test(p)) at(i < packages.length ? `packages[${i}]` : 'kernel.package', `'${p}' is not a Debian package name`);

  const locale = get<string>('locale') ?? 'C.UTF-8';
  if (!/^[A-Za-z]{1,3}(_[A-Z]{2})?(\.[A-Za-z0-9-]+)?(@[a-z]+)?$/.test(locale) && locale !== 'C' && locale !== 'POSIX') at('locale', `'${locale}' is not a locale name such as C.UTF-8 or en_US.UTF-8`);
  const timezone = get<string>('timezone') ?? 'Etc/UTC';
  if (!/^[A-Za-z_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(timezone)) at('timezone', `'${timezone}' is not a zoneinfo name such as Etc/UTC or Europe/Paris`);

  const iface = get<string>('network.interface') ?? 'enX0';
  if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(iface)) at('network.interface', `'${iface}' is not an interface name`);

  if (problems.length) fail(opts.file, problems);
  const defaultRenderer: Recipe['network']['renderer'] = distribution === 'ubuntu' && init === 'systemd' ? 'netplan' : 'ifupdown';
  const recipe: Recipe = {
    name,
    template: get<string>('template'),
    distribution: distribution as Distribution,
    suite: suite!,
    mirror: (get<string>('mirror') ?? suiteInfo?.mirror ?? dist!.mirror).replace(/\/+$/, ''),
    components: get<string[]>('components') ?? (distribution === 'ubuntu' ? ['main', 'universe'] : ['main']),
    variant: get<Recipe['variant']>('variant') ?? 'minbase',
    packages: [...new Set(packages)],
    kernel: { package: kernelPackage, cmdline: get<string>('kernel.cmdline') ?? '' },
    init,
    sizeBytes,
    filesystem: get<Filesystem>('filesystem') ?? 'ext4',
    partitioned: get<boolean>('partitioned') ?? false,
    partitionTable: get<PartitionTable>('partitionTable') ?? 'gpt',
    hostname,
    network: {
      renderer: get<Recipe['network']['renderer']>('network.renderer') ?? defaultRenderer,
      interface: iface,
      dhcp,
      address: dhcp ? undefined : address,
      gateway: dhcp ? undefined : gateway,
      nameservers,
    },
    root: { passwordHash: rootHash, sshKeys: rootKeys },
    users,
    locale,
    timezone,
    domain: { memoryMiB: get<number>('domain.memory') ?? 512, vcpus: get<number>('domain.vcpus') ?? 1, bridge: get<string>('domain.bridge') ?? 'xenbr0' },
    overlays: opts.overlays ?? [],
  };
  return { recipe, warnings };
}
