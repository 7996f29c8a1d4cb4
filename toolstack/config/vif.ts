// Network interface specifications (xl-network-configuration(5)) as Xen 4.17's xl reads them
// (tools/xl/xl_parse.c parse_nic_config, tools/libs/util/libxlu_vif.c xlu_vif_parse_rate), with libxl's defaults.
import { ConfigError } from './errors.js';

/** A vif's rate limit: bytes per interval and the interval (libxl_device_nic rate_*). */
export interface VifRate {
  readonly bytesPerInterval: bigint;
  readonly intervalUsecs: number;
}

/** One network interface, resolved with xl's and libxl's defaults. */
export interface VifSpec {
  /** Device id: the position in the vif list unless devid= says otherwise. */
  readonly devid: number;
  /** mac=, "xx:xx:xx:xx:xx:xx" (lower case); undefined: libxl picks 00:16:3e + 3 random bytes at create time. */
  readonly mac: string | undefined;
  /** bridge= (default xenbr0, libxl's default with no xl.conf). */
  readonly bridge: string;
  /** script= (default vif-bridge; relative names live in /etc/xen/scripts). */
  readonly script: string;
  /** type=: vif (PV) or ioemu. */
  readonly type: 'vif' | 'ioemu';
  readonly ip: string | undefined;
  /** vifname=: the backend interface name (default vif<domid>.<devid>). */
  readonly vifname: string | undefined;
  /** backend=: the backend domain's name or id (default dom0). */
  readonly backend: string | undefined;
  readonly model: string | undefined;
  readonly gatewaydev: string | undefined;
  readonly rate: VifRate | undefined;
  /** mtu= (default 1500, LIBXL_DEVICE_NIC_MTU_DEFAULT). */
  readonly mtu: number;
  /** trusted / untrusted (undefined: the default). */
  readonly trusted: boolean | undefined;
  /** Other key=value settings xl accepts (colo_*, forwarddev...), kept as given. */
  readonly extra: Readonly<Record<string, string>>;
}

/** The result of parsing a vif spec: the vif and the warnings xl would print. */
export interface VifParseResult {
  readonly vif: VifSpec;
  readonly warnings: readonly string[];
}

const MAX_U32 = 0xffffffffn;
const MAX_U64 = 0xffffffffffffffffn;

function rateError(message: string, text: string, field: string): never {
  throw new ConfigError('TXL_CFG_VIF', `${field}: config parsing error in vif: ${message} in \`${text}'`, {
    details: { field },
    hint: 'rate is N{G,M,K}{B,b}/s with an optional @interval: 10Mb/s, 250KB/s, 1MB/s@20ms (see xl-network-configuration(5))',
  });
}

/** C strtoull(s, &end, 0) on a string that starts with decimal digits (the regexes guarantee it). */
function strtoullBase0(s: string): { value: bigint; end: number } {
  if (/^0[xX][0-9a-fA-F]/.test(s)) {
    const m = /^0[xX]([0-9a-fA-F]+)/.exec(s)!;
    return { value: BigInt(`0x${m[1]!}`), end: m[0].length };
  }
  if (s.startsWith('0')) {
    const m = /^0[0-7]*/.exec(s)!;
    return { value: m[0].length > 1 ? BigInt(`0o${m[0].slice(1)}`) : 0n, end: m[0].length };
  }
  const m = /^[0-9]+/.exec(s)!;
  return { value: BigInt(m[0]), end: m[0].length };
}

/** xlu_vif_parse_rate: "10Mb/s", "250KB/s", "1MB/s@20ms". Throws ConfigError TXL_CFG_VIF like xl's exit. */
export function parseVifRate(rate: string, field = 'rate'): VifRate {
  const at = rate.indexOf('@');
  const bytes = at >= 0 ? rate.slice(0, at) : rate;
  const interval = at >= 0 ? rate.slice(at + 1) : undefined;
  if (bytes === '') rateError('no rate specified', rate, field);
  if (!/^[0-9]+[GMK]?[Bb]\/s$/.test(bytes)) rateError('invalid rate', bytes, field);
  const parsed = strtoullBase0(bytes);
  let perSec = parsed.value;
  if (perSec === 0n || perSec > MAX_U32) rateError('rate overflow', bytes, field);
  const suffix = bytes[parsed.end];
  if (suffix === 'G') perSec *= 1_000_000_000n;
  else if (suffix === 'M') perSec *= 1_000_000n;
  else if (suffix === 'K') perSec *= 1_000n;
  if (suffix === 'b' || bytes[parsed.end + 1] === 'b') perSec /= 8n;
  let usecs = 50_000n;
  if (interval !== undefined) {
    if (!/^[0-9]+[mu]?s?$/.test(interval)) rateError('invalid replenishment interval', interval, field);
    const p = strtoullBase0(interval);
    if (p.value === 0n || p.value > MAX_U32) rateError('replenishment interval overflow', interval, field);
    const unit = interval[p.end];
    usecs = unit === 's' || unit === undefined ? p.value * 1_000_000n : unit === 'm' ? p.value * 1_000n : p.value;
    if (usecs > MAX_U32) rateError('replenishment interval overflow', interval, field);
  }
  if (usecs !== 0n && perSec > MAX_U64 / usecs) rateError('rate overflow', rate, field);
  return { bytesPerInterval: (perSec * usecs) / 1_000_000n, intervalUsecs: Number(usecs) };
}

/** C strtoul(s, &end, 16) as xl's mac parser uses it: returns the value and chars consumed (0: none). */
function strtoul16(s: string): { value: bigint; used: number } {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)/.exec(s);
  if (!m) return { value: 0n, used: 0 };
  let value = BigInt(`0x${m[3]!}`);
  if (m[1] === '-') value = (MAX_U64 + 1n - value) & MAX_U64;
  return { value, used: m[0].length };
}

function parseMac(text: string, field: string): string {
  const bytes: string[] = [];
  let rest = text;
  for (let i = 0; i < 6; i++) {
    const { value, used } = strtoul16(rest);
    if (used === 0 || value > 255n) {
      throw new ConfigError('TXL_CFG_VIF', `${field}: invalid mac=${text}: expected six hex bytes such as 00:16:3e:12:34:56`, { details: { field, mac: text } });
    }
    bytes.push(value.toString(16).padStart(2, '0'));
    // xl skips exactly one separator char after each byte, whatever it is.
    if (i < 5 && used >= rest.length) {
      throw new ConfigError('TXL_CFG_VIF', `${field}: mac=${text} has fewer than six bytes`, { details: { field, mac: text } });
    }
    rest = rest.slice(used + 1);
  }
  return bytes.join(':');
}

function parseUlong(text: string, key: string, field: string): number {
  // xl's parse_ulong: strtoul base 10, fails only when nothing is read.
  const m = /^[ \t\n\v\f\r]*\+?([0-9]+)/.exec(text);
  if (!m) throw new ConfigError('TXL_CFG_VIF', `${field}: ${key}=${text} is not a number`, { details: { field, key } });
  const value = Number(m[1]);
  if (!Number.isSafeInteger(value) || value > 0xffffffff) throw new ConfigError('TXL_CFG_VIF', `${field}: ${key}=${text} is too large`, { details: { field, key } });
  return value;
}

const STRING_KEYS: Readonly<Record<string, 'bridge' | 'gatewaydev' | 'ip' | 'script' | 'backend' | 'vifname' | 'model'>> = {
  bridge: 'bridge', netdev: 'gatewaydev', gatewaydev: 'gatewaydev', ip: 'ip', script: 'script', backend: 'backend', vifname: 'vifname', model: 'model',
};
// parse_nic_config's other accepted prefixes (COLO), kept verbatim.
const EXTRA_KEYS = /^(forwarddev|colo_[a-z0-9_]+)$/;

/**
 * Parses one vif spec ("bridge=xenbr0,mac=00:16:3e:01:02:03") as xl's parse_nic_config does, for the vif at
 * list position `index`. Unrecognised tokens are warnings (xl prints them and carries on); invalid mac,
 * type, devid, mtu or rate values throw ConfigError TXL_CFG_VIF (`field` names the setting in messages).
 */
export function parseVifSpec(spec: string, index = 0, field = `vif[${index}]`): VifParseResult {
  const warnings: string[] = [];
  const vif: { -readonly [K in keyof VifSpec]: VifSpec[K] } = {
    devid: index, mac: undefined, bridge: 'xenbr0', script: 'vif-bridge', type: 'vif', ip: undefined, vifname: undefined, backend: undefined,
    model: undefined, gatewaydev: undefined, rate: undefined, mtu: 1500, trusted: undefined, extra: {},
  };
  const extra: Record<string, string> = {};
  // strtok(",") drops empty tokens; leading spaces are skipped.
  for (const raw of spec.split(',')) {
    if (raw === '') continue;
    const token = raw.replace(/^ +/, '');
    const eq = token.indexOf('=');
    const key = eq >= 0 ? token.slice(0, eq) : token;
    const value = eq >= 0 ? token.slice(eq + 1) : '';
    if (eq < 0) {
      if (token === 'trusted') vif.trusted = true;
      else if (token === 'untrusted') vif.trusted = false;
      else warnings.push(`${field}: unrecognized argument \`${token}' (ignored, as xl does)`);
      continue;
    }
    const stringKey = STRING_KEYS[key];
    if (stringKey) {
      if (key === 'netdev') warnings.push(`${field}: the netdev parameter is deprecated, please use gatewaydev instead`);
      vif[stringKey] = value;
    } else if (key === 'type') {
      if (value !== 'vif' && value !== 'ioemu') {
        throw new ConfigError('TXL_CFG_VIF', `${field}: invalid type=${value}: accepted are vif and ioemu`, { details: { field, key } });
      }
      vif.type = value;
    } else if (key === 'mac') {
      vif.mac = parseMac(value, field);
    } else if (key === 'rate') {
      vif.rate = parseVifRate(value, field);
    } else if (key === 'devid') {
      vif.devid = parseUlong(value, key, field);
    } else if (key === 'mtu') {
      vif.mtu = parseUlong(value, key, field);
    } else if (key === 'accel') {
      warnings.push(`${field}: the accel parameter for vifs is currently not supported`);
    } else if (EXTRA_KEYS.test(key)) {
      extra[key] = value;
    } else {
      warnings.push(`${field}: unrecognized argument \`${token}' (ignored, as xl does)`);
    }
  }
  vif.extra = Object.freeze(extra);
  return { vif: Object.freeze(vif), warnings };
}
