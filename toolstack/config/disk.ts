// Disk specifications (xl-disk-configuration(5)) parsed exactly as Xen 4.17's xlu_disk_parse does
// (tools/libs/util/libxlu_disk_l.c as generated from libxlu_disk_l.l, libxlu_disk.c): the flex rules are tried longest-match-first,
// trailing context counted, ties to the earlier rule, and their actions fill a libxl_device_disk.
import { ConfigError } from './errors.js';

/** libxl_disk_format. */
export type DiskFormat = 'unknown' | 'qcow' | 'qcow2' | 'vhd' | 'raw' | 'empty' | 'qed';
/** libxl_disk_backend. */
export type DiskBackendType = 'unknown' | 'phy' | 'tap' | 'qdisk' | 'standalone';
/** libxl_disk_specification. */
export type DiskSpecification = 'unknown' | 'xen' | 'virtio';

/** One disk as xlu_disk_parse leaves libxl_device_disk (field names in camelCase). */
export interface DiskSpec {
  /** pdev_path: the image, device or other target (undefined for an empty cdrom drive). */
  readonly target: string | undefined;
  /** The guest's name for the device: xvda, hdc, sdb, d0p1... */
  readonly vdev: string;
  readonly format: DiskFormat;
  /** Writable by the guest (access=rw, the default; cdroms are read-only). */
  readonly readwrite: boolean;
  readonly isCdrom: boolean;
  readonly removable: boolean;
  /** backend=: the driver domain's name. */
  readonly backendDomname: string | undefined;
  /** backendtype= (unknown: libxl chooses). */
  readonly backendType: DiskBackendType;
  /** script=, or block-iscsi etc. from a deprecated prefix. */
  readonly script: string | undefined;
  readonly directIoSafe: boolean;
  /** discard / no-discard (undefined: the default). */
  readonly discard: boolean | undefined;
  readonly specification: DiskSpecification;
  readonly coloEnable: boolean | undefined;
  readonly coloHost: string | undefined;
  readonly coloPort: number;
  readonly coloExport: string | undefined;
  readonly activeDisk: string | undefined;
  readonly hiddenDisk: string | undefined;
  /** trusted / untrusted (undefined: the default). */
  readonly trusted: boolean | undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Ctx {
  readonly disk: Mutable<DiskSpec>;
  /** The target, vdev... as libxl holds them: undefined = NULL (not set), '' = set to empty. */
  err: boolean;
  accessSet: boolean;
  hadDeprPrefix: boolean;
  readonly spec: string;
  readonly source: string;
  readonly errors: string[];
}

/** A flex rule: main pattern, optional trailing context, action on yytext. Returns false to stop scanning. */
interface Rule {
  readonly re: RegExp;
  readonly action: (ctx: Ctx, text: string) => boolean | void;
}

function diskErr(ctx: Ctx, erroneous: string | undefined, message: string): void {
  ctx.errors.push(
    `${ctx.source}: config parsing error in disk specification: ${message}${erroneous !== undefined ? `: near \`${cString(erroneous)}'` : ''} in \`${cString(ctx.spec)}'`,
  );
  ctx.err = true;
}

/** What C's printf("%s") shows of a JS string holding a C string: up to the first NUL. */
function cString(s: string): string {
  const nul = s.indexOf('\0');
  return nul >= 0 ? s.slice(0, nul) : s;
}

const strip = (text: string, delim: string): string => (text.endsWith(delim) ? text.slice(0, -1) : text);
const fromEquals = (text: string): string => text.slice(text.indexOf('=') + 1);

type StringField = 'target' | 'vdev' | 'backendDomname' | 'script' | 'coloHost' | 'coloExport' | 'activeDisk' | 'hiddenDisk';

function saveString(ctx: Ctx, what: string, field: StringField, value: string): void {
  const current = ctx.disk[field];
  if (current !== undefined && current !== '') {
    diskErr(ctx, value, `${what} respecified`);
    return;
  }
  ctx.disk[field] = value;
}

function setAccess(ctx: Ctx, value: string): void {
  if (value === 'r' || value === 'ro') ctx.disk.readwrite = false;
  else if (value === 'rw' || value === 'w' || value === '') ctx.disk.readwrite = true;
  else diskErr(ctx, value, 'unknown value for access');
}

function dset<F extends 'format' | 'backendType' | 'specification'>(ctx: Ctx, field: F, member: string, value: DiskSpec[F], text: string): void {
  const current = ctx.disk[field];
  if (current !== 'unknown' && current !== value) diskErr(ctx, text, `${member} respecified`);
  else ctx.disk[field] = value;
}

const FORMATS: Readonly<Record<string, DiskFormat>> = { '': 'raw', raw: 'raw', qcow: 'qcow', qcow2: 'qcow2', vhd: 'vhd', empty: 'empty', qed: 'qed' };

function setFormat(ctx: Ctx, value: string): void {
  const format = Object.hasOwn(FORMATS, value) ? FORMATS[value] : undefined;
  if (format === undefined) diskErr(ctx, value, 'unknown value for format');
  else dset(ctx, 'format', 'format', format, value);
}

function setBackendType(ctx: Ctx, value: string): void {
  if (value === 'phy' || value === 'tap' || value === 'qdisk' || value === 'standalone') dset(ctx, 'backendType', 'backend', value, value);
  else diskErr(ctx, value, 'unknown value for backendtype');
}

function setSpecification(ctx: Ctx, value: string): void {
  if (value === 'xen' || value === 'virtio') dset(ctx, 'specification', 'specification', value, value);
  else diskErr(ctx, value, 'unknown value for specification');
}

/** C atoi: spaces, sign, digits; 0 when there are none. */
function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  if (!m) return 0;
  const n = Number.parseInt(m[1]!, 10);
  return Number.isFinite(n) ? n | 0 : 0;
}

/** vdev_and_devtype: "<vdev>:<devtype>" (deprecated); returns false when there is no colon. */
function vdevAndDevtype(ctx: Ctx, text: string): boolean {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return false;
  saveString(ctx, 'vdev', 'vdev', text.slice(0, colon));
  const type = text.slice(colon + 1);
  if (type === 'cdrom') ctx.disk.isCdrom = true;
  else if (type === 'disk') ctx.disk.isCdrom = false;
  else diskErr(ctx, type, 'unknown deprecated type');
  return true;
}

// flex's `.` is any char but newline.
const ANY = '[^\\n]';
function rule(main: string, trailing: string | null, action: Rule['action']): Rule {
  return { re: new RegExp(`(${main})(${trailing ?? ''})`, 'y'), action };
}
const keyValue = (key: string, action: (ctx: Ctx, value: string) => void): Rule =>
  rule(`${key}=[^,]*,?`, null, (ctx, text) => action(ctx, fromEquals(strip(text, ','))));

const RULES: readonly Rule[] = [
  rule('[ \\t\\n]+', `(?:[^ \\t\\n]${ANY}*)?`, () => {}),
  keyValue('format', setFormat),
  rule('cdrom,?', null, (ctx) => void (ctx.disk.isCdrom = true)),
  rule('devtype=cdrom,?', null, (ctx) => void (ctx.disk.isCdrom = true)),
  rule('devtype=disk,?', null, (ctx) => void (ctx.disk.isCdrom = false)),
  rule('devtype=[^,]*,?', null, (ctx, text) => diskErr(ctx, text, 'unknown value for type')),
  keyValue('access', setAccess),
  keyValue('backend', (ctx, v) => saveString(ctx, 'backend', 'backendDomname', v)),
  keyValue('backendtype', setBackendType),
  keyValue('specification', setSpecification),
  keyValue('vdev', (ctx, v) => saveString(ctx, 'vdev', 'vdev', v)),
  keyValue('script', (ctx, v) => saveString(ctx, 'script', 'script', v)),
  rule('direct-io-safe,?', null, (ctx) => void (ctx.disk.directIoSafe = true)),
  rule('discard,?', null, (ctx) => void (ctx.disk.discard = true)),
  rule('no-discard,?', null, (ctx) => void (ctx.disk.discard = false)),
  rule('colo,?', null, (ctx) => void (ctx.disk.coloEnable = true)),
  rule('no-colo,?', null, (ctx) => void (ctx.disk.coloEnable = false)),
  keyValue('colo-host', (ctx, v) => saveString(ctx, 'colo-host', 'coloHost', v)),
  keyValue('colo-port', (ctx, v) => {
    const port = atoi(v);
    if (port) ctx.disk.coloPort = port;
    else diskErr(ctx, v, 'unknown value for colo_port');
  }),
  keyValue('colo-export', (ctx, v) => saveString(ctx, 'colo-export', 'coloExport', v)),
  keyValue('active-disk', (ctx, v) => saveString(ctx, 'active-disk', 'activeDisk', v)),
  keyValue('hidden-disk', (ctx, v) => saveString(ctx, 'hidden-disk', 'hiddenDisk', v)),
  // libxlu_disk_l.l has `trusted,?` and `untrusted,?` rules here, but the flex output committed in
  // stable-4.17 (libxlu_disk_l.c, which Debian's libxlutil is built from) predates them: in Xen 4.17
  // `trusted` is an ordinary positional parameter. We follow the library as shipped.
  // target= eats the rest of the spec.
  rule(`target=${ANY}*`, null, (ctx, text) => saveString(ctx, 'target', 'target', fromEquals(strip(text, ',')))),
  // Unknown key=value (flex's pattern takes a single value char, but it wins on length all the same).
  rule('[a-z][-a-z0-9]*=[^,],?', null, (ctx, text) => diskErr(ctx, text, 'unknown parameter')),
  // Deprecated prefixes: their trailing context makes them count as matching the whole rest.
  rule('(?:raw|qcow2?|vhd):', `${ANY}*`, (ctx, text) => {
    ctx.hadDeprPrefix = true;
    setFormat(ctx, strip(text, ':'));
  }),
  rule('(?:iscsi|e?nbd|drbd):', `${ANY}*`, (ctx, text) => {
    ctx.hadDeprPrefix = true;
    saveString(ctx, 'script', 'script', `block-${strip(text, ':')}`);
  }),
  rule('tapdisk:', `${ANY}*`, (ctx) => void (ctx.hadDeprPrefix = true)),
  rule('tap2?:', `${ANY}*`, (ctx) => void (ctx.hadDeprPrefix = true)),
  rule('aio:', `${ANY}*`, (ctx) => void (ctx.hadDeprPrefix = true)),
  rule('ioemu:', `${ANY}*`, (ctx) => void (ctx.hadDeprPrefix = true)),
  rule('file:', `${ANY}*`, (ctx) => void (ctx.hadDeprPrefix = true)),
  rule('phy:', `${ANY}*`, (ctx) => void (ctx.hadDeprPrefix = true)),
  rule('[a-z][a-z0-9]*:', `(?:[^a-z0-9]${ANY}*)?`, (ctx, text) => {
    diskErr(ctx, text, 'unknown deprecated disk prefix');
    return false;
  }),
  // Positional parameters: target, format, vdev, access.
  rule('[^=,]*,|[^=,]+,?', null, (ctx, raw) => {
    const text = strip(raw, ',');
    const d = ctx.disk;
    if (ctx.err) {
      // previous errors may just lead to subsequent ones
    } else if (d.target === undefined) {
      saveString(ctx, 'target', 'target', text);
    } else if (!ctx.hadDeprPrefix && d.format === 'unknown') {
      if (d.target === '' && vdevAndDevtype(ctx, text)) d.format = 'empty';
      else setFormat(ctx, text);
    } else if (d.vdev === undefined) {
      if (!vdevAndDevtype(ctx, text)) saveString(ctx, 'vdev', 'vdev', text);
    } else if (!ctx.accessSet) {
      ctx.accessSet = true;
      setAccess(ctx, text);
    } else {
      diskErr(ctx, text, 'too many positional parameters');
      return false;
    }
    return true;
  }),
];

/** Runs the scanner over one spec (xlu__disk_yylex). */
function scan(ctx: Ctx, spec: string): void {
  let pos = 0;
  while (pos < spec.length) {
    let best: { rule: Rule; total: number; main: string } | undefined;
    for (const r of RULES) {
      r.re.lastIndex = pos;
      const m = r.re.exec(spec);
      if (!m) continue;
      const total = m[0].length;
      if (total > 0 && (!best || total > best.total)) best = { rule: r, total, main: m[1]! };
    }
    if (!best) {
      // flex's `.` then <LEXERR>.*: the rest of the line is a syntax error (at end of input flex just stops).
      if (pos + 1 >= spec.length) return;
      const rest = /[^\n]*/y;
      rest.lastIndex = pos + 1;
      diskErr(ctx, spec.slice(pos, pos + 1) + rest.exec(spec)![0], 'bad disk syntax');
      return;
    }
    pos += best.main.length;
    if (best.rule.action(ctx, best.main) === false) return;
  }
}

/** Options of parseDiskSpec. */
export interface ParseDiskSpecOptions {
  /** Name used in messages (xl uses the config file name). */
  readonly source?: string;
}

/** The disk-spec result including libxlutil's reports, for the differential tests and messages. */
export interface DiskParseResult {
  /** libxl_device_disk as xlu_disk_parse left it (also when it failed). */
  readonly disk: DiskSpec;
  /** libxlutil's report lines, in order (empty when accepted). */
  readonly errors: readonly string[];
}

/** xlu_disk_parse without throwing: the disk struct and libxlutil's report lines. */
export function parseDiskSpecRaw(spec: string, options: ParseDiskSpecOptions = {}): DiskParseResult {
  const disk: Mutable<DiskSpec> = {
    target: undefined, vdev: undefined as unknown as string, format: 'unknown', readwrite: true, isCdrom: false, removable: false,
    backendDomname: undefined, backendType: 'unknown', script: undefined, directIoSafe: false, discard: undefined, specification: 'unknown',
    coloEnable: undefined, coloHost: undefined, coloPort: 0, coloExport: undefined, activeDisk: undefined, hiddenDisk: undefined, trusted: undefined,
  };
  const ctx: Ctx = { disk, err: false, accessSet: false, hadDeprPrefix: false, spec, source: options.source ?? 'input', errors: [] };
  // xlu_disk_parse scans the spec as a C string.
  scan(ctx, cString(spec));
  if (!ctx.err) {
    if (disk.format === 'unknown') disk.format = 'raw';
    if (disk.isCdrom) {
      disk.removable = true;
      disk.readwrite = false;
      if (disk.target === undefined || disk.target === '') disk.format = 'empty';
    }
    if (disk.vdev === undefined) diskErr(ctx, undefined, 'no vdev specified');
    else if (disk.target === undefined && !disk.removable) diskErr(ctx, undefined, 'no target specified (and device not removable)');
  }
  return { disk: Object.freeze(disk), errors: ctx.errors };
}

/**
 * Parses one xl-disk-configuration(5) spec ("file:/img,xvda,w", "format=qcow2,vdev=xvdb,target=/x.qcow2"...)
 * as xl does. Throws ConfigError TXL_CFG_DISK with libxlutil's message when it rejects the spec.
 */
export function parseDiskSpec(spec: string, options: ParseDiskSpecOptions & { readonly field?: string } = {}): DiskSpec {
  const result = parseDiskSpecRaw(spec, options);
  if (result.errors.length) {
    throw new ConfigError('TXL_CFG_DISK', result.errors[0]!, {
      details: { field: options.field ?? 'disk', spec },
      hint: "a disk is '[format=F,][vdev=]V[,access=rw|ro][,devtype=cdrom],target=PATH' or the positional 'PATH,FORMAT,VDEV,ACCESS' (see xl-disk-configuration(5))",
    });
  }
  return result.disk;
}

/** device_virtdisk_matches: "<prefix><letters>[<partition>]", letters in bijective base 26. */
function virtdiskMatch(vdev: string, prefix: string, maxIndex: number, maxPartition: number): { disk: number; partition: number } | undefined {
  if (!vdev.startsWith(prefix)) return undefined;
  let index = -1;
  let p = prefix.length;
  while (p < vdev.length && vdev[p]! >= 'a' && vdev[p]! <= 'z') {
    index = (index + 1) * 26 + (vdev.charCodeAt(p) - 97);
    if (index > maxIndex) return undefined;
    p++;
  }
  if (index < 0) return undefined; // libxl lets "xvd" through as disk -1; nobody means that
  if (p === vdev.length) return { disk: index, partition: 0 };
  if (!/^[1-9][0-9]*$/.test(vdev.slice(p))) return undefined;
  const partition = Number(vdev.slice(p));
  return partition > maxPartition ? undefined : { disk: index, partition };
}

/**
 * The xenstore device id of a virtual disk name (libxl__device_disk_dev_number, xen-vbd-interface(7)):
 * xvda → 51712, xvdb1 → 51729, sda → 2048, hdc → 5632, d0p1 → 51713, a plain number as is.
 * Returns undefined for names libxl rejects.
 */
export function vdevToDevid(vdev: string): number | undefined {
  const dp = /^d([0-9]+)p([0-9]+)$/.exec(vdev);
  const xvd = dp ? { disk: Number(dp[1]), partition: Number(dp[2]) } : virtdiskMatch(vdev, 'xvd', (1 << 20) - 1, 255);
  if (xvd && xvd.disk < 1 << 20 && xvd.partition < 256) {
    return xvd.disk <= 15 && xvd.partition <= 15 ? (202 << 8) | (xvd.disk << 4) | xvd.partition : (1 << 28) + (xvd.disk << 8) + xvd.partition;
  }
  const number = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(vdev);
  if (number) {
    const value = Number(vdev.startsWith('0') && !/^0[xX]/.test(vdev) && vdev.length > 1 ? Number.parseInt(vdev, 8) : Number(vdev));
    if (value <= 0x7fffffff) return value;
  }
  const hd = virtdiskMatch(vdev, 'hd', 3, 63);
  if (hd) return ((hd.disk < 2 ? 3 : 22) << 8) | ((hd.disk & 1) << 6) | hd.partition;
  const sd = virtdiskMatch(vdev, 'sd', 15, 15);
  if (sd) return (8 << 8) | (sd.disk << 4) | sd.partition;
  return undefined;
}
