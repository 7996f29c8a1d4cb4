// Raw xl.cfg settings -> a resolved, validated, readonly PV DomainConfig with xl's and libxl's defaults
// (Xen 4.17 tools/xl/xl_parse.c parse_config_data and libxl's build-info defaults).
import { randomUUID } from 'node:crypto';
import { nearest } from '../../common/suggest.js';
import { parseDiskSpec, vdevToDevid, type DiskSpec } from './disk.js';
import { ConfigError } from './errors.js';
import { KNOWN_XL_KEYS } from './known-keys.js';
import { parseVifSpec, type VifSpec } from './vif.js';
import type { XlCfg, XlCfgSetting, XlCfgValue } from './xlcfg.js';

/** What xl does when the guest powers off, reboots, crashes... (libxl_action_on_shutdown). */
export type ShutdownAction = 'destroy' | 'restart' | 'rename-restart' | 'preserve' | 'coredump-destroy' | 'coredump-restart' | 'soft-reset';
const ACTIONS: readonly ShutdownAction[] = ['destroy', 'restart', 'rename-restart', 'preserve', 'coredump-destroy', 'coredump-restart', 'soft-reset'];

/** A resolved PV domain configuration: everything the create plan needs, defaults applied. */
export interface DomainConfig {
  /** The config file it came from. */
  readonly source: string;
  readonly name: string;
  /** 8-4-4-4-12 lower-case hex; generated when the file has none. */
  readonly uuid: string;
  readonly type: 'pv';
  /** Guest kernel path (kernel=, or firmware="pvgrub64" → Xen's pvgrub64.bin). Undefined with a bootloader. */
  readonly kernel: string | undefined;
  readonly ramdisk: string | undefined;
  /** Kernel command line composed as xl does: cmdline=, else "root=<root> <extra>". */
  readonly cmdline: string | undefined;
  readonly bootloader: string | undefined;
  readonly bootloaderArgs: readonly string[];
  /** Target memory (memory=), MiB. */
  readonly memoryMiB: number;
  /** Static maximum (maxmem=, default memory), MiB. */
  readonly maxmemMiB: number;
  /** vCPUs online at boot. */
  readonly vcpus: number;
  /** vCPUs the domain can ever have. */
  readonly maxvcpus: number;
  /** cpus= hard affinity as written: a CPULIST string, or one per vCPU. */
  readonly cpus: string | readonly string[] | undefined;
  readonly onPoweroff: ShutdownAction;
  readonly onReboot: ShutdownAction;
  readonly onCrash: ShutdownAction;
  readonly onWatchdog: ShutdownAction;
  readonly onSoftReset: ShutdownAction;
  readonly disks: readonly ResolvedDisk[];
  readonly vifs: readonly VifSpec[];
}

/** A disk with its xenstore device id. */
export interface ResolvedDisk extends DiskSpec {
  /** The vdev's device number (xvda → 51712), the disk's id under device/vbd/. */
  readonly devid: number;
}

/** Something xl would accept but the user probably did not mean; returned as data, printed by the CLI. */
export interface ConfigWarning {
  readonly file: string;
  readonly line?: number;
  readonly key?: string;
  /** "file:line", or the command-line setting it came from. */
  readonly where: string;
  readonly message: string;
}

/** A resolved config and the warnings met on the way. */
export interface ResolvedConfig {
  readonly config: DomainConfig;
  readonly warnings: readonly ConfigWarning[];
}

/** Options of resolveDomainConfig. */
export interface ResolveOptions {
  /** UUID source when the file has none (default: crypto.randomUUID). */
  readonly generateUuid?: () => string;
  /** XENFIRMWAREDIR for firmware="pvgrub64" (Debian: /usr/lib/xen-4.17/boot). */
  readonly firmwareDir?: string;
}

/** Debian's XENFIRMWAREDIR for Xen 4.17. */
export const DEFAULT_FIRMWARE_DIR = '/usr/lib/xen-4.17/boot';
/** libxl's memory when neither memory= nor maxmem= is given (MiB). */
export const DEFAULT_MEMORY_MIB = 32;

const LONG_MAX = (1n << 63n) - 1n;
const LONG_MIN = -(1n << 63n);

/** Reads typed values out of the raw settings, like xlu_cfg_get_* but with errors instead of warnings. */
class Reader {
  constructor(private readonly cfg: XlCfg) {}

  where(s: XlCfgSetting): string {
    return this.cfg.where(s.line);
  }

  fail(code: 'TXL_CFG_VALUE' | 'TXL_CFG_MISSING' | 'TXL_CFG_UNSUPPORTED', s: XlCfgSetting | undefined, message: string, hint?: string): never {
    const at = s ? this.where(s) : this.cfg.source;
    throw new ConfigError(code, `${at}: ${message}`, {
      details: { file: this.cfg.source, line: s?.line, field: s?.name },
      ...(hint ? { hint } : {}),
    });
  }

  setting(key: string): XlCfgSetting | undefined {
    return this.cfg.get(key);
  }

  string(key: string): string | undefined {
    const s = this.cfg.get(key);
    if (!s) return undefined;
    if (typeof s.value !== 'string') this.fail('TXL_CFG_VALUE', s, `${key} is a list but should be a single value`, `write ${key} = "..."`);
    return s.value;
  }

  /** xlu_cfg_get_bounded_long: strtol(s, &end, 0) over the whole atom. */
  long(key: string, min: bigint, max: bigint, what = 'an integer'): number | undefined {
    const s = this.cfg.get(key);
    if (!s) return undefined;
    if (typeof s.value !== 'string') this.fail('TXL_CFG_VALUE', s, `${key} is a list but should be a single value`, `write ${key} = N`);
    if (s.op === '+=') this.fail('TXL_CFG_VALUE', s, `can't use += with numbers for ${key}`);
    const value = strtolWhole(s.value);
    const shown = JSON.stringify(s.value);
    if (value === undefined) {
      this.fail('TXL_CFG_VALUE', s, `${key}=${shown} is not a valid number: expected ${what} (decimal, 0x hex or 0-prefixed octal)`);
    }
    if (value < LONG_MIN || value > LONG_MAX) this.fail('TXL_CFG_VALUE', s, `${key}=${shown} is out of range`);
    if (value < min) this.fail('TXL_CFG_VALUE', s, `${key}=${shown} is smaller than the minimum ${min}`);
    if (value > max) this.fail('TXL_CFG_VALUE', s, `${key}=${shown} is greater than the maximum ${max}`);
    return Number(value);
  }

  /** A list of atoms; a string where a list belongs is an error. */
  list(key: string): { setting: XlCfgSetting; items: readonly XlCfgValue[] } | undefined {
    const s = this.cfg.get(key);
    if (!s) return undefined;
    if (typeof s.value === 'string') this.fail('TXL_CFG_VALUE', s, `${key} is a single value but should be a list`, `write ${key} = [ "...", "..." ]`);
    return { setting: s, items: s.value };
  }
}

/** strtol(s, &end, 0) requiring the whole string to be consumed; undefined when it is not a number. */
export function strtolWhole(s: string): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const body = m[2]!;
  const magnitude = /^0[xX]/.test(body) ? BigInt(body) : body.startsWith('0') ? (body.length > 1 ? BigInt(`0o${body.slice(1)}`) : 0n) : BigInt(body);
  return m[1] === '-' ? -magnitude : magnitude;
}

/**
 * xl's parse_cpurange: the first comma-separated token that is not [^][node:|nodes:](all|N|N-M), or undefined.
 * ("^all" is refused too.)
 */
export function invalidCpuListToken(list: string): string | undefined {
  for (const token of list.split(',')) {
    if (token === '') continue; // strtok skips empty tokens
    let rest = token;
    const not = rest.startsWith('^');
    if (not) rest = rest.slice(1);
    if (rest.startsWith('node:')) rest = rest.slice(5);
    else if (rest.startsWith('nodes:')) rest = rest.slice(6);
    if (rest === 'all') {
      if (not) return token;
      continue;
    }
    const m = /^[ \t\n\v\f\r]*\+?([0-9]+)(?:-[ \t\n\v\f\r]*\+?([0-9]+))?$/.exec(rest);
    if (!m || (m[2] !== undefined && BigInt(m[2]) < BigInt(m[1]!))) return token;
  }
  return undefined;
}

/** xl matches type= and builder= by prefix: strncmp(buf, "hvm", strlen(buf)). */
const prefixOf = (buf: string, word: string): boolean => word.startsWith(buf);

function resolveType(r: Reader): 'pv' {
  let type: 'pv' | 'pvh' | 'hvm' | undefined;
  const typeSetting = r.setting('type');
  const typeValue = r.string('type');
  if (typeValue !== undefined) {
    if (prefixOf(typeValue, 'hvm')) type = 'hvm';
    else if (prefixOf(typeValue, 'pv')) type = 'pv';
    else if (prefixOf(typeValue, 'pvh')) type = 'pvh';
    else r.fail('TXL_CFG_VALUE', typeSetting, `invalid domain type ${JSON.stringify(typeValue)}: accepted are "pv", "pvh" and "hvm"`);
  }
  const builderSetting = r.setting('builder');
  const builder = r.string('builder');
  if (builder !== undefined) {
    const fromBuilder = prefixOf(builder, 'hvm') ? 'hvm' : prefixOf(builder, 'generic') ? 'pv' : undefined;
    if (!fromBuilder) r.fail('TXL_CFG_VALUE', builderSetting, `invalid builder ${JSON.stringify(builder)}: accepted are "generic" (PV) and "hvm" (builder= is deprecated: use type=)`);
    if (type !== undefined && type !== fromBuilder) r.fail('TXL_CFG_VALUE', builderSetting, 'contradicting "builder" and "type" options specified');
    type = fromBuilder;
  }
  if (type === 'hvm' || type === 'pvh') {
    r.fail('TXL_CFG_UNSUPPORTED', typeSetting ?? builderSetting, `type "${type}" is recognised but not supported yet: this build of txl boots PV guests only`, 'use type = "pv" with a PV-capable kernel (Debian\'s linux-image-amd64 is one)');
  }
  return 'pv';
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function resolveAction(r: Reader, key: string, fallback: ShutdownAction): ShutdownAction {
  const value = r.string(key);
  if (value === undefined) return fallback;
  if (!(ACTIONS as readonly string[]).includes(value)) {
    r.fail('TXL_CFG_VALUE', r.setting(key), `unknown ${key} action ${JSON.stringify(value)}: accepted are ${ACTIONS.join(', ')}`);
  }
  return value as ShutdownAction;
}

/** parse_cmdline: cmdline= wins; otherwise root= and extra= make "root=<root> <extra>". */
function resolveCmdline(r: Reader, warnings: ConfigWarning[], cfg: XlCfg): string | undefined {
  const cmdline = r.string('cmdline');
  const root = r.string('root');
  const extra = r.string('extra');
  if (cmdline !== undefined) {
    if (root !== undefined || extra !== undefined) {
      const line = r.setting('cmdline')!.line;
      warnings.push({ file: cfg.source, line, where: cfg.where(line), key: 'cmdline', message: 'ignoring root= and extra= in favour of cmdline=' });
    }
    return cmdline;
  }
  if (root !== undefined && extra !== undefined) return `root=${root} ${extra}`;
  if (root !== undefined) return `root=${root}`;
  return extra;
}

function resolveDisks(r: Reader, cfg: XlCfg, warnings: ConfigWarning[]): ResolvedDisk[] {
  const list = r.list('disk');
  if (!list) return [];
  const disks: ResolvedDisk[] = [];
  const byDevid = new Map<number, number>();
  for (const [index, item] of list.items.entries()) {
    if (typeof item !== 'string') {
      // xl stops at the first item that is not a string.
      warnings.push({ file: cfg.source, line: list.setting.line, where: cfg.where(list.setting.line), key: 'disk', message: `disk[${index}] is a list, not a string: it and the disks after it are ignored (as xl does)` });
      break;
    }
    const where = cfg.where(list.setting.line);
    let disk: DiskSpec;
    try {
      disk = parseDiskSpec(item, { source: where, field: `disk[${index}]` });
    } catch (error) {
      if (error instanceof ConfigError) {
        throw new ConfigError(error.code, `${error.message} (disk[${index}])`, { details: { ...error.details, file: cfg.source, line: list.setting.line }, ...(error.hint ? { hint: error.hint } : {}) });
      }
      throw error;
    }
    const devid = vdevToDevid(disk.vdev);
    if (devid === undefined) {
      throw new ConfigError('TXL_CFG_DISK', `${where}: disk[${index}] ${JSON.stringify(item)}: vdev ${JSON.stringify(disk.vdev)} is not a virtual disk name libxl accepts`, {
        details: { file: cfg.source, line: list.setting.line, field: `disk[${index}]`, vdev: disk.vdev },
        hint: 'use xvda, xvdb... (or sda, hda, d0p1; see xen-vbd-interface(7))',
      });
    }
    const previous = byDevid.get(devid);
    if (previous !== undefined) {
      throw new ConfigError('TXL_CFG_DISK', `${where}: disk[${index}] ${JSON.stringify(item)} uses vdev ${disk.vdev}, which disk[${previous}] already uses`, {
        details: { file: cfg.source, line: list.setting.line, field: `disk[${index}]`, vdev: disk.vdev },
        hint: 'give every disk its own vdev (xvda, xvdb, ...)',
      });
    }
    byDevid.set(devid, index);
    disks.push(Object.freeze({ ...disk, devid }));
  }
  return disks;
}

function resolveVifs(r: Reader, cfg: XlCfg, warnings: ConfigWarning[]): VifSpec[] {
  const list = r.list('vif');
  if (!list) return [];
  const vifs: VifSpec[] = [];
  const byDevid = new Map<number, number>();
  for (const [index, item] of list.items.entries()) {
    if (typeof item !== 'string') {
      warnings.push({ file: cfg.source, line: list.setting.line, where: cfg.where(list.setting.line), key: 'vif', message: `vif[${index}] is a list, not a string: it and the vifs after it are ignored (as xl does)` });
      break;
    }
    const where = cfg.where(list.setting.line);
    let parsed: ReturnType<typeof parseVifSpec>;
    try {
      parsed = parseVifSpec(item, index, `vif[${index}]`);
    } catch (error) {
      if (error instanceof ConfigError) throw new ConfigError(error.code, `${where}: ${error.message}`, { details: { ...error.details, file: cfg.source, line: list.setting.line }, ...(error.hint ? { hint: error.hint } : {}) });
      throw error;
    }
    for (const message of parsed.warnings) warnings.push({ file: cfg.source, line: list.setting.line, where: cfg.where(list.setting.line), key: 'vif', message });
    const previous = byDevid.get(parsed.vif.devid);
    if (previous !== undefined) {
      throw new ConfigError('TXL_CFG_VIF', `${where}: vif[${index}] has devid ${parsed.vif.devid}, which vif[${previous}] already has`, {
        details: { file: cfg.source, line: list.setting.line, field: `vif[${index}]` },
      });
    }
    byDevid.set(parsed.vif.devid, index);
    vifs.push(parsed.vif);
  }
  return vifs;
}

/**
 * Resolves raw settings into a DomainConfig with xl's rules and defaults. `overrides` are KEY=VALUE
 * statements applied as `xl create FILE KEY=VALUE...` does (appended to the file's text). Throws
 * ConfigError naming file:line and the field; returns the warnings (unknown keys with the nearest
 * known key, ignored root=/extra=...) as data.
 */
export function resolveDomainConfig(raw: XlCfg, overrides: readonly string[] = [], options: ResolveOptions = {}): ResolvedConfig {
  const cfg = overrides.length ? raw.withOverrides(overrides) : raw;
  const r = new Reader(cfg);
  const warnings: ConfigWarning[] = [];

  for (const key of cfg.keys()) {
    if (KNOWN_XL_KEYS.has(key)) continue;
    const guess = nearest(key, KNOWN_XL_KEYS);
    warnings.push({
      file: cfg.source, line: cfg.get(key)!.line, where: cfg.where(cfg.get(key)!.line), key,
      message: `unknown setting '${key}' is ignored${guess ? ` (did you mean '${guess}'?)` : ''}`,
    });
  }

  const type = resolveType(r);

  const name = r.string('name') ?? r.fail('TXL_CFG_MISSING', undefined, 'name is missing: every domain needs name = "..."', 'add a line such as name = "guest1"');
  if (name === '') r.fail('TXL_CFG_VALUE', r.setting('name'), 'name is empty');

  const uuidText = r.string('uuid');
  if (uuidText !== undefined && !UUID_RE.test(uuidText)) {
    r.fail('TXL_CFG_VALUE', r.setting('uuid'), `failed to parse UUID ${JSON.stringify(uuidText)}: expected 8-4-4-4-12 hex digits`);
  }
  const uuid = (uuidText ?? (options.generateUuid ?? randomUUID)()).toLowerCase();

  const LONG_MAX_MIB = BigInt(Number.MAX_SAFE_INTEGER) / 1024n;
  const memory = r.long('memory', 1n, LONG_MAX_MIB, 'a size in MiB');
  const maxmem = r.long('maxmem', 1n, LONG_MAX_MIB, 'a size in MiB');
  // xl: maxmem defaults to memory; libxl: both default to 32 MiB, memory to maxmem.
  const maxmemMiB = maxmem ?? memory ?? DEFAULT_MEMORY_MIB;
  const memoryMiB = memory ?? maxmemMiB;
  if (memoryMiB > maxmemMiB) {
    r.fail('TXL_CFG_VALUE', r.setting('memory'), `memory=${memoryMiB} is more than maxmem=${maxmemMiB}`, 'maxmem is the ceiling memory can be ballooned up to: make it at least memory');
  }

  const vcpusSet = r.long('vcpus', 1n, 4096n, 'a number of vCPUs');
  const maxvcpusSet = r.long('maxvcpus', 1n, 4096n, 'a number of vCPUs');
  const maxvcpus = maxvcpusSet ?? vcpusSet ?? 1;
  const vcpus = vcpusSet ?? maxvcpus;
  if (maxvcpus < vcpus) r.fail('TXL_CFG_VALUE', r.setting('maxvcpus'), `maxvcpus=${maxvcpus} < vcpus=${vcpus}`);

  let cpus: string | readonly string[] | undefined;
  const cpusSetting = r.setting('cpus');
  if (cpusSetting) {
    const bad = (list: string, token: string): never =>
      r.fail('TXL_CFG_VALUE', cpusSetting, `cpus=${JSON.stringify(list)}: invalid pcpu range ${JSON.stringify(token)}`, 'a CPULIST is comma-separated all, N, N-M, nodes:N-M, each optionally prefixed with ^ to exclude it (e.g. "0-3,^1")');
    if (typeof cpusSetting.value === 'string') {
      const token = invalidCpuListToken(cpusSetting.value);
      if (token !== undefined) bad(cpusSetting.value, token);
      cpus = cpusSetting.value;
    } else {
      // xl reads one CPULIST per vCPU, up to maxvcpus, and stops at the first item that is not a string.
      const items: string[] = [];
      for (const v of cpusSetting.value.slice(0, maxvcpus)) {
        if (typeof v !== 'string') break;
        const token = invalidCpuListToken(v);
        if (token !== undefined) bad(v, token);
        items.push(v);
      }
      cpus = Object.freeze(items);
    }
  }

  let kernel = r.string('kernel');
  const ramdisk = r.string('ramdisk');
  const cmdline = resolveCmdline(r, warnings, cfg);
  const bootloader = r.string('bootloader');
  let bootloaderArgs: string[] = [];
  const bootloaderArgsSetting = r.setting('bootloader_args');
  if (bootloaderArgsSetting) {
    if (typeof bootloaderArgsSetting.value === 'string') {
      warnings.push({ file: cfg.source, line: bootloaderArgsSetting.line, where: cfg.where(bootloaderArgsSetting.line), key: 'bootloader_args', message: 'bootloader_args as a string is deprecated: it is split on spaces; write a list' });
      bootloaderArgs = bootloaderArgsSetting.value.split(/[ \t]+/).filter((a) => a !== '');
    } else {
      bootloaderArgs = bootloaderArgsSetting.value.map((v, i) => {
        if (typeof v !== 'string') return r.fail('TXL_CFG_VALUE', bootloaderArgsSetting, `bootloader_args[${i}] is a list, not a string`);
        return v;
      });
    }
  }
  const firmware = r.string('firmware');
  if (firmware !== undefined) {
    if (kernel !== undefined) r.fail('TXL_CFG_VALUE', r.setting('firmware'), 'both kernel and firmware specified');
    if (!prefixOf(firmware, 'pvgrub32') && !prefixOf(firmware, 'pvgrub64')) {
      r.fail('TXL_CFG_VALUE', r.setting('firmware'), `firmware=${JSON.stringify(firmware)}: only pvgrub32 and pvgrub64 are supported as firmware options for PV`);
    }
    kernel = `${options.firmwareDir ?? DEFAULT_FIRMWARE_DIR}/${firmware}.bin`;
  }
  if (kernel === undefined && bootloader === undefined) {
    r.fail('TXL_CFG_MISSING', undefined, 'neither kernel nor bootloader specified: a PV domain needs kernel = "/path/to/vmlinuz" (or bootloader = "pygrub")');
  }

  const config: DomainConfig = {
    source: cfg.source,
    name,
    uuid,
    type,
    kernel,
    ramdisk,
    cmdline,
    bootloader,
    bootloaderArgs: Object.freeze(bootloaderArgs),
    memoryMiB,
    maxmemMiB,
    vcpus,
    maxvcpus,
    cpus,
    onPoweroff: resolveAction(r, 'on_poweroff', 'destroy'),
    onReboot: resolveAction(r, 'on_reboot', 'restart'),
    onCrash: resolveAction(r, 'on_crash', 'destroy'),
    onWatchdog: resolveAction(r, 'on_watchdog', 'destroy'),
    onSoftReset: resolveAction(r, 'on_soft_reset', 'soft-reset'),
    disks: Object.freeze(resolveDisks(r, cfg, warnings)),
    vifs: Object.freeze(resolveVifs(r, cfg, warnings)),
  };
  return Object.freeze({ config: Object.freeze(config), warnings: Object.freeze(warnings) });
}
