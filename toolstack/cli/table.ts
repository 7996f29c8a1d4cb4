// xl-style output of the domain commands (list, info, vcpu-list, uptime: tools/xl/xl_info.c and
// xl_vcpu.c formats) and their shared context: a Hypervisor plus xenstore for domain names.
import { readFile, writeFile, rename } from 'node:fs/promises';
import os from 'node:os';
import type { DomainInfo, HostExtras, Hypervisor, PhysInfo, VcpuInfo, XenVersionInfo } from '../../hypervisor/index.js';
import { noSuchDomain } from '../../hypervisor/errors.js';

// ---- context -----------------------------------------------------------------------------------

/** The xenstore operations the domain commands use (a subset of XenstoreClient). */
export interface DomainStore {
  tryRead(path: string): Promise<string | undefined>;
  directory(path: string): Promise<string[]>;
  rm(path: string): Promise<void>;
  close(): Promise<void>;
}

/** What a domain command runs against. */
export interface CliContext {
  readonly hv: Hypervisor;
  /** xenstore, connected on first use (info and dmesg never need it). */
  store(): Promise<DomainStore>;
  /** Closes the store (if opened) and the hypervisor. */
  close(): Promise<void>;
  /**
   * libxl's userdata directory, where domain configs are saved for `list -l`: /var/lib/xen on a Xen
   * host (TXL_XEN_LIB_DIR overrides it), beside the state file for the simulator; undefined: none.
   */
  readonly userdataDir: string | undefined;
}

let contextFactory: (() => Promise<CliContext>) | undefined;

/**
 * Makes the domain commands run against another context (tests: a SimulatedHypervisor and a
 * MemoryXenstore, in-process through main()). Pass undefined to restore the default.
 */
export function setCliContextFactory(factory: (() => Promise<CliContext>) | undefined): void {
  contextFactory = factory;
}

/** Builds a context from a hypervisor and a store opener. */
export function makeCliContext(hv: Hypervisor, openStore: () => Promise<DomainStore>, closeHv = true, userdataDir?: string): CliContext {
  let store: Promise<DomainStore> | undefined;
  return {
    hv,
    userdataDir,
    store: () => (store ??= openStore()),
    close: async () => {
      if (store) await (await store.catch(() => undefined))?.close();
      if (closeHv) await hv.close();
    },
  };
}

/**
 * A store kept in the simulator state file under "xenstore" (`{"/local/domain/1/name": "web"}`), for
 * TXL_BACKEND=simulator runs of bin/txl. Changes are written back on close.
 */
async function stateFileStore(path: string): Promise<DomainStore> {
  const load = async (): Promise<Record<string, unknown>> => {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    } catch {
      return {};
    }
  };
  const nodes = new Map(Object.entries(((await load()).xenstore ?? {}) as Record<string, string>));
  let dirty = false;
  return {
    tryRead: async (p) => nodes.get(p),
    directory: async (p) => {
      const prefix = p.endsWith('/') ? p : `${p}/`;
      const children = new Set<string>();
      for (const key of nodes.keys()) if (key.startsWith(prefix)) children.add(key.slice(prefix.length).split('/')[0]!);
      return [...children];
    },
    rm: async (p) => {
      for (const key of [...nodes.keys()]) {
        if (key === p || key.startsWith(`${p}/`)) {
          nodes.delete(key);
          dirty = true;
        }
      }
    },
    close: async () => {
      if (!dirty) return;
      const file = await load();
      const tmp = `${path}.${process.pid}.xs.tmp`;
      await writeFile(tmp, `${JSON.stringify({ ...file, xenstore: Object.fromEntries(nodes) }, null, 1)}\n`);
      await rename(tmp, path);
    },
  };
}

/**
 * The context of the current run: the injected one (tests), else the backend TXL_BACKEND selects
 * (privcmd + xenstored's socket; or the simulator state file for both).
 */
export async function openCliContext(env: NodeJS.ProcessEnv = process.env): Promise<CliContext> {
  if (contextFactory) return contextFactory();
  const { openHypervisor, defaultSimulatorStatePath } = await import('../../hypervisor/open.js');
  const hv = await openHypervisor(env);
  if (hv.backend === 'simulator') {
    const path = env.TXL_SIM_STATE ?? defaultSimulatorStatePath(env);
    return makeCliContext(hv, () => stateFileStore(path), true, env.TXL_XEN_LIB_DIR ?? `${path}.userdata`);
  }
  return makeCliContext(hv, async () => {
    const { XenstoreClient } = await import('../../xenstore/index.js');
    return XenstoreClient.connect();
  }, true, env.TXL_XEN_LIB_DIR ?? '/var/lib/xen');
}

/** Runs `fn` with a context and always closes it. */
export async function withCliContext<T>(fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const ctx = await openCliContext();
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

// ---- names and qualifiers ------------------------------------------------------------------------

/** /local/domain/N/name (libxl_domid_to_name), or undefined. */
export async function domainName(ctx: CliContext, domid: number): Promise<string | undefined> {
  return (await ctx.store()).tryRead(`/local/domain/${domid}/name`);
}

/**
 * Resolves a domain qualifier like libxl_domain_qualifier_to_domid: all digits = a domid (which must
 * exist), otherwise a name looked up in xenstore. Throws TXL_HV_NO_DOMAIN when there is none.
 */
export async function resolveDomain(ctx: CliContext, qualifier: string): Promise<number> {
  if (/^\d+$/.test(qualifier)) {
    const domid = Number(qualifier);
    if (domid > 0xffff || !(await ctx.hv.findDomain(domid))) throw noSuchDomain(qualifier);
    return domid;
  }
  for (const d of await ctx.hv.listDomains()) {
    if ((await domainName(ctx, d.domid)) === qualifier) return d.domid;
  }
  throw noSuchDomain(qualifier);
}

// ---- printf helpers ------------------------------------------------------------------------------

const left = (s: string, w: number): string => s.padEnd(w);
const right = (s: string | number | bigint, w: number): string => String(s).padStart(w);
/**
 * glibc's `%.Nf`: the exact binary value of `x` rounded half-to-even at N decimals (JS toFixed rounds
 * exact ties up: 1.25 -> "1.3" where printf gives "1.2").
 */
export function printfFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return String(x);
  const negative = x < 0 || Object.is(x, -0);
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(x));
  const bits = view.getBigUint64(0);
  const exp = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  const mant = exp === 0 ? frac : frac | (1n << 52n);
  const shift = (exp === 0 ? 1 : exp) - 1075; // x = mant * 2^shift
  const scale = 10n ** BigInt(digits);
  let n: bigint;
  if (shift >= 0) {
    n = (mant << BigInt(shift)) * scale;
  } else {
    const num = mant * scale;
    const den = 1n << BigInt(-shift);
    n = num / den;
    const twice = 2n * (num % den);
    if (twice > den || (twice === den && n % 2n === 1n)) n += 1n;
  }
  const text = n.toString().padStart(digits + 1, '0');
  const body = digits ? `${text.slice(0, -digits)}.${text.slice(-digits)}` : text;
  return negative ? `-${body}` : body; // glibc keeps the sign of -0.0 and of values rounding to zero
}

/** C's `%W.1f` of a `(float)ns / 1e9` value, as xl computes CPU seconds. */
const seconds1 = (ns: bigint, w: number): string => right(printfFixed(Math.fround(Number(ns)) / 1e9, 1), w);

// ---- xl list -------------------------------------------------------------------------------------

/** `xl list`'s header line (xl_info.c list_domains). */
export const LIST_HEADER = 'Name                                        ID   Mem VCPUs\tState\tTime(s)';

/** The six state letters: r b p s <shutdown reason from "-rscwS"> d. */
export function stateLetters(d: DomainInfo): string {
  const reasons = '-rscwS';
  const code = d.shutdown ? d.shutdownCode ?? 0 : 0;
  return (d.running ? 'r' : '-') + (d.blocked ? 'b' : '-') + (d.paused ? 'p' : '-') + (d.shutdown ? 's' : '-')
    + (code < reasons.length ? reasons[code]! : '?') + (d.dying ? 'd' : '-');
}

/** Memory column: (current + outstanding) KiB / 1024, truncated. */
export function memMiB(d: DomainInfo): bigint {
  return ((d.totPages + d.outstandingPages) * 4n) / 1024n;
}

/** One `xl list` row: "%-40s %5d %5lu %5d     %c%c%c%c%c%c  %8.1f". */
export function formatListRow(name: string | undefined, d: DomainInfo): string {
  return `${left(name ?? '(null)', 40)} ${right(d.domid, 5)} ${right(memMiB(d), 5)} ${right(d.onlineVcpus, 5)}     ${stateLetters(d)}  ${seconds1(d.cpuTimeNs, 8)}`;
}

// ---- xl info -------------------------------------------------------------------------------------

/** The uname fields `xl info` prints. */
export interface HostUname {
  readonly host: string;
  readonly release: string;
  readonly version: string;
  readonly machine: string;
}

/** This machine's uname. */
export function hostUname(): HostUname {
  return { host: os.hostname(), release: os.release(), version: os.version(), machine: os.machine() };
}

/** `xl info`'s key/value pairs in its order (xl_info.c print_info without -n). */
export function infoFields(u: HostUname, p: PhysInfo, x: HostExtras, v: XenVersionInfo): [string, string][] {
  const caps = p.capabilities;
  const has = (bit: number): boolean => (caps & (1 << bit)) !== 0;
  const [hvm, pv, directio, hap, shadow, share, vmtrace, vpmu, g1, g2] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(has);
  const virtCaps = [
    pv && ' pv', hvm && ' hvm', hvm && directio && ' hvm_directio', pv && directio && ' pv_directio', hap && ' hap',
    shadow && ' shadow', share && ' iommu_hap_pt_share', vmtrace && ' vmtrace', vpmu && ' vpmu', g1 && ' gnttab-v1', g2 && ' gnttab-v2',
  ].filter((s): s is string => typeof s === 'string').join('').trim();
  const perMiB = BigInt((1 << 20) / v.pagesize);
  const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');
  return [
    ['host', u.host], ['release', u.release], ['version', u.version], ['machine', u.machine],
    ['nr_cpus', String(p.nrCpus)], ['max_cpu_id', String(p.maxCpuId)], ['nr_nodes', String(p.nrNodes)],
    ['cores_per_socket', String(p.coresPerSocket)], ['threads_per_core', String(p.threadsPerCore)],
    ['cpu_mhz', `${Math.trunc(p.cpuKhz / 1000)}.${String(p.cpuKhz % 1000).padStart(3, '0')}`],
    ['hw_caps', p.hwCap.map(hex8).join(':')],
    ['virt_caps', virtCaps],
    ['total_memory', String(p.totalPages / perMiB)],
    ['free_memory', String((p.freePages - p.outstandingPages) / perMiB)],
    ['sharing_freed_memory', String(x.sharingFreedPages / perMiB)],
    ['sharing_used_memory', String(x.sharingUsedFrames / perMiB)],
    ['outstanding_claims', String(p.outstandingPages / perMiB)],
    ['free_cpus', String(x.freeCpus)],
    ['xen_major', String(v.major)], ['xen_minor', String(v.minor & 0xff)], ['xen_extra', v.extra],
    ['xen_version', `${v.major}.${v.minor & 0xff}${v.extra}`], ['xen_caps', v.capabilities], ['xen_scheduler', x.scheduler],
    ['xen_pagesize', String(v.pagesize)], ['platform_params', `virt_start=0x${v.virtStart.toString(16)}`],
    ['xen_changeset', v.changeset], ['xen_commandline', v.commandline], ['cc_compiler', v.compiler],
    ['cc_compile_by', v.compileBy], ['cc_compile_domain', v.compileDomain], ['cc_compile_date', v.compileDate],
    ['build_id', v.buildId], ['xend_config_format', '4'],
  ];
}

/** One info line as xl prints it: the key padded to 23 columns, ": ", the value ("virt_caps :" + " cap" each). */
function infoLine(key: string, value: string): string {
  return key === 'virt_caps' ? `${left(key, 23)}:${value ? ` ${value}` : ''}` : `${left(key, 23)}: ${value}`;
}

/** Formats info pairs as xl does. */
export function formatInfoLines(fields: readonly [string, string][]): string {
  return fields.map(([k, v]) => `${infoLine(k, v)}\n`).join('');
}

/**
 * `xl info NAME`: prints the values of the lines whose text starts with NAME (maybe_printf's prefix
 * match, so `txl info xen_` prints every xen_* value).
 */
export function filterInfo(fields: readonly [string, string][], name: string): string {
  return fields
    .map(([k, v]) => infoLine(k, v))
    .filter((line) => line.startsWith(name) && line[line.indexOf(':') + 1] === ' ')
    .map((line) => `${line.slice(line.indexOf(':') + 2)}\n`)
    .join('');
}

// ---- xl vcpu-list --------------------------------------------------------------------------------

/** vcpu-list's header ("%-32s %5s %5s %5s %5s %9s %s"). */
export const VCPU_HEADER = `${left('Name', 32)} ${right('ID', 5)} ${right('VCPU', 5)} ${right('CPU', 5)} ${right('State', 5)} ${right('Time(s)', 9)} Affinity (Hard / Soft)`;

/** xl's print_bitmap: "all", "none", or ranges like "0,2-3", over `nrCpus` bits. */
export function formatCpuSet(cpus: readonly number[], nrCpus: number): string {
  const set = new Set(cpus);
  if (![...Array(nrCpus).keys()].some((i) => set.has(i))) return 'none';
  if ([...Array(nrCpus).keys()].every((i) => set.has(i))) return 'all';
  const parts: string[] = [];
  for (let i = 0; i < nrCpus; i++) {
    if (!set.has(i)) continue;
    let j = i;
    while (j + 1 < nrCpus && set.has(j + 1)) j++;
    parts.push(j > i ? `${i}-${j}` : `${i}`);
    i = j;
  }
  return parts.join(',');
}

/** One vcpu-list row (xl_vcpu.c print_vcpuinfo). */
export function formatVcpuRow(name: string | undefined, domid: number, v: VcpuInfo, nrCpus: number): string {
  const head = `${left(name ?? '(null)', 32)} ${right(domid, 5)} ${right(v.vcpu, 5)}`;
  const state = v.online
    ? `${right(v.cpu, 5)} ${right(v.running ? 'r' : '-', 3)}${v.blocked ? 'b' : '-'}- `
    : `${right('-', 5)} ${right('-', 3)}-p `;
  return `${head}${state}${seconds1(v.cpuTimeNs, 9)}  ${formatCpuSet(v.hardAffinity, nrCpus)} / ${formatCpuSet(v.softAffinity, nrCpus)}`;
}

// ---- xl uptime -----------------------------------------------------------------------------------

/** xl's uptime_to_string: "D days, H:MM:SS" (short: without seconds). */
export function uptimeToString(total: number, short: boolean): string {
  let rest = Math.max(0, Math.trunc(total));
  const day = Math.trunc(rest / 86400);
  rest -= day * 86400;
  const hour = Math.trunc(rest / 3600);
  rest -= hour * 3600;
  const min = Math.trunc(rest / 60);
  const sec = rest - min * 60;
  const hm = `${right(hour, 2)}:${String(min).padStart(2, '0')}`;
  const clock = short ? hm : `${hm}:${String(sec).padStart(2, '0')}`;
  if (day > 1) return `${day} days, ${clock}`;
  if (day === 1) return `${day} day, ${clock}`;
  return clock;
}

/** The uptime header ("%-33s %4s %s"). */
export const UPTIME_HEADER = `${left('Name', 33)} ${right('ID', 4)} Uptime`;

/** One uptime line, long (" %-33s %4d %s") or short (" HH:MM:SS up X, name (id)") form. */
export function formatUptimeLine(name: string | undefined, domid: number, seconds: number, short: boolean, now: Date): string {
  if (!short) return `${left(name ?? '(null)', 33)} ${right(domid, 4)} ${uptimeToString(seconds, false)}`;
  const two = (n: number): string => String(n).padStart(2, '0');
  const clock = `${two(now.getHours())}:${two(now.getMinutes())}:${two(now.getSeconds())}`;
  return ` ${clock} up ${uptimeToString(seconds, true)}, ${name ?? '(null)'} (${domid})`;
}

/** Plain-JSON view of a DomainInfo for --json output. */
export function domainJson(name: string | undefined, d: DomainInfo): Record<string, unknown> {
  return {
    name: name ?? null, domid: d.domid, uuid: d.uuid, memMiB: Number(memMiB(d)), maxMemKiB: Number(d.maxPages * 4n),
    vcpus: d.onlineVcpus, state: stateLetters(d), running: d.running, blocked: d.blocked, paused: d.paused,
    shutdown: d.shutdown, shutdownCode: d.shutdownCode ?? null, dying: d.dying, cpuTimeSeconds: Number(d.cpuTimeNs) / 1e9,
  };
}

