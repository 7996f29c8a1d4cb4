// Day-2 requests to a running domain, as libxl 4.17 makes them for xl: the PV control protocol
// (control/shutdown and its acknowledgement, control/sysrq), rename, memory target and maximum,
// vCPU availability. Sources mirrored: libxl_domain.c (pvcontrol, rename, set_vcpuonline),
// libxl_mem.c (set_memory_target, setmaxmem), xl_parse.c (parse_mem_size_kb), xl_vcpu.c.
import type { Hypervisor } from '../../hypervisor/index.js';
import { LifecycleError } from './errors.js';
import type { LifecycleStore } from './store.js';

/** LIBXL_MAXMEM_CONSTANT (libxl_internal.h): KiB added to every max_mem (libxl__arch_extra_memory on x86). */
export const MAXMEM_CONSTANT_KIB = 1024n;
/** LIBXL_MIN_DOM0_MEM: dom0's target may not go below 128 MiB. */
export const MIN_DOM0_MEM_KIB = 128n * 1024n;
/** How long libxl waits for the guest to acknowledge control/shutdown (libxl__domain_pvcontrol). */
export const PVCONTROL_ACK_TIMEOUT_MS = 60_000;

/**
 * xl's parse_mem_size_kb: a decimal number (strtoll: leading spaces and sign allowed) and at most one
 * unit letter b, k, m (default), g or t, case-insensitive. Returns KiB, or undefined where xl returns -1.
 */
export function parseMemSizeKb(text: string): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)?(.*)$/s.exec(text)!;
  // strtoll without digits consumes nothing: the whole text is the suffix.
  const digits = m[1];
  const rest = digits === undefined ? text : m[2]!;
  if (rest.length > 1) return undefined;
  let kb = digits === undefined ? 0n : BigInt(digits);
  const max = (1n << 63n) - 1n;
  if (kb > max) kb = max;
  if (kb < -max - 1n) kb = -max - 1n;
  const wrap = (v: bigint): bigint => BigInt.asIntN(64, v);
  switch (rest.toLowerCase()) {
    case 't':
      return wrap(kb << 30n);
    case 'g':
      return wrap(kb << 20n);
    case '':
    case 'm':
      return wrap(kb << 10n);
    case 'k':
      return kb;
    case 'b':
      return kb >> 10n;
    default:
      return undefined;
  }
}

const domPath = (domid: number): string => `/local/domain/${domid}`;

/** Reads a decimal KiB node as strtoull would want it whole; throws TXL_LC_XENSTORE when missing or bad. */
async function readKb(store: LifecycleStore, path: string, tx?: Parameters<LifecycleStore['read']>[1]): Promise<bigint | undefined> {
  const text = await store.tryRead(path, tx);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) {
    throw new LifecycleError('TXL_LC_XENSTORE', `${path} holds '${text}', not a number of KiB`, { details: { path, value: text } });
  }
  return BigInt(text);
}

// ---- shutdown and reboot --------------------------------------------------------------------------

/** What a PV control request asks for (the value written to control/shutdown). */
export type PvControlCommand = 'poweroff' | 'reboot';

/** How a shutdown or reboot request was delivered. */
export type ShutdownMethod =
  /** The guest acknowledged control/shutdown (it is shutting itself down). */
  | 'pv'
  /** Xen was asked to shut the domain down (SCHEDOP_remote_shutdown): -F for guests without PV control. */
  | 'remote';

/** Options of requestShutdown. */
export interface ShutdownRequestOptions {
  /** Fall back to SCHEDOP_remote_shutdown when the guest has no PV control driver or does not acknowledge (-F). */
  readonly fallback?: boolean;
  /** How long to wait for the acknowledgement (default 60 s, libxl's). */
  readonly ackTimeoutMs?: number;
  /** Called before falling back (the CLI prints xl-style notices). */
  readonly onFallback?: (why: 'no-feature' | 'no-ack') => void;
}

/**
 * Asks a domain to power off or reboot the way libxl_domain_shutdown/reboot do for PV guests: write
 * control/shutdown = cmd and wait (up to 60 s) for the guest to acknowledge by clearing it. With
 * `fallback` (txl's -F), a guest that never advertised control/feature-<cmd> (no PV shutdown driver,
 * like the minimal test kernel) is shut down by Xen at once (SCHEDOP_remote_shutdown), and one that
 * does not acknowledge in time is too; without it, a missing acknowledgement fails like xl
 * ("guest didn't acknowledge control request").
 */
export async function requestShutdown(
  hv: Hypervisor, store: LifecycleStore, domid: number, cmd: PvControlCommand, opts: ShutdownRequestOptions = {},
): Promise<ShutdownMethod> {
  await hv.getDomainInfo(domid);
  const control = `${domPath(domid)}/control`;
  const remote = async (why: 'no-feature' | 'no-ack'): Promise<ShutdownMethod> => {
    opts.onFallback?.(why);
    await hv.remoteShutdown(domid, cmd);
    return 'remote';
  };
  if (opts.fallback && (await store.tryRead(`${control}/feature-${cmd}`)) !== '1') return remote('no-feature');
  const node = `${control}/shutdown`;
  const watch = store.watch(node, `txl-pvcontrol-${process.pid}-${domid}`);
  try {
    await store.write(node, cmd);
    const deadline = Date.now() + (opts.ackTimeoutMs ?? PVCONTROL_ACK_TIMEOUT_MS);
    const it = watch[Symbol.asyncIterator]();
    for (;;) {
      // pvcontrol_acked(): the node is empty or gone.
      const value = await store.tryRead(node);
      if (value === undefined || value === '') return 'pv';
      // A guest that shut down without clearing the node still did what was asked.
      const info = await hv.findDomain(domid);
      if (!info || info.shutdown || info.dying) return 'pv';
      const left = deadline - Date.now();
      if (left <= 0) break;
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([it.next(), new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.min(left, 1000))))]);
      clearTimeout(timer);
      if (r !== 'timeout' && r.done) break;
    }
  } finally {
    await watch.close().catch(() => undefined);
  }
  if (opts.fallback) {
    // Withdraw the unanswered request before asking Xen.
    await store.write(node, '').catch(() => undefined);
    return remote('no-ack');
  }
  const hasFeature = (await store.tryRead(`${control}/feature-${cmd}`)) === '1';
  throw new LifecycleError('TXL_LC_NO_ACK', `guest didn't acknowledge control request (domain ${domid}, control/shutdown=${cmd})`, {
    details: { domid, cmd },
    hint: hasFeature
      ? 'The guest advertised PV shutdown but did not react; -F asks Xen to shut it down instead.'
      : `The guest never wrote control/feature-${cmd} (no PV shutdown driver): -F asks Xen to shut it down instead.`,
  });
}

/** `xl sysrq`: writes the letter to control/sysrq (libxl_send_sysrq). */
export async function sendSysrq(hv: Hypervisor, store: LifecycleStore, domid: number, key: string): Promise<void> {
  if (key.length !== 1) throw new LifecycleError('TXL_LC_ARGS', 'Invalid sysrq.', { details: { key }, hint: 'Give one character, e.g. txl sysrq web s' });
  await hv.getDomainInfo(domid);
  await store.write(`${domPath(domid)}/control/sysrq`, key);
}

// ---- rename ---------------------------------------------------------------------------------------

/** The domain named `name` other than `except`, if any (libxl_name_to_domid over the running domains). */
async function domainNamed(hv: Hypervisor, store: LifecycleStore, name: string): Promise<number | undefined> {
  for (const d of await hv.listDomains()) {
    if ((await store.tryRead(`${domPath(d.domid)}/name`)) === name) return d.domid;
  }
  return undefined;
}

/**
 * libxl__domain_rename: a non-empty new name must be unused; when `oldName` is given it must still be
 * the domain's name (a race check); /local/domain/N/name and /vm/<uuid>/name change in one transaction.
 */
export async function renameDomain(hv: Hypervisor, store: LifecycleStore, domid: number, newName: string, oldName?: string): Promise<void> {
  const info = await hv.getDomainInfo(domid);
  if (newName !== '') {
    const holder = await domainNamed(hv, store, newName);
    if (holder !== undefined && holder !== domid) {
      throw new LifecycleError('TXL_LC_NAME_TAKEN', `Domain with name "${newName}" already exists.`, { details: { domid, name: newName, holder } });
    }
  }
  await store.transaction(async (tx) => {
    if (oldName !== undefined) {
      const current = await store.tryRead(`${domPath(domid)}/name`, tx);
      if (current !== oldName) {
        throw new LifecycleError('TXL_LC_INVALID', `Allegedly named \`${oldName}' is actually named \`${current ?? ''}' - racing ?`, { details: { domid, oldName } });
      }
    }
    await store.write(`${domPath(domid)}/name`, newName, tx);
    await store.write(`/vm/${info.uuid}/name`, newName, tx);
  });
}

// ---- memory ---------------------------------------------------------------------------------------

/**
 * libxl_domain_setmaxmem (`xl mem-max`): static-max may not go below memory/target; Xen's max_mem
 * becomes max + 1024 KiB; memory/static-max = max.
 */
export async function setMaxMemory(hv: Hypervisor, store: LifecycleStore, domid: number, maxKb: bigint): Promise<void> {
  if (maxKb < 0n) throw new LifecycleError('TXL_LC_ARGS', `invalid memory size: ${maxKb} KiB`, { details: { domid } });
  const targetPath = `${domPath(domid)}/memory/target`;
  const target = await readKb(store, targetPath);
  if (target === undefined) {
    throw new LifecycleError('TXL_LC_XENSTORE', `Cannot get memory info from ${targetPath}`, { details: { domid, path: targetPath } });
  }
  if (maxKb < target) {
    throw new LifecycleError('TXL_LC_INVALID', 'memory_static_max must be greater than or or equal to memory_dynamic_max', {
      details: { domid, maxKb, targetKb: target }, hint: `The balloon target is ${target} KiB: lower it first with txl mem-set.`,
    });
  }
  await hv.setMaxMem(domid, maxKb + MAXMEM_CONSTANT_KIB);
  await store.write(`${domPath(domid)}/memory/static-max`, String(maxKb));
}

/**
 * libxl_set_memory_target(relative=0, enforce=1) (`xl mem-set`): the new target (minus videoram) may
 * not exceed static-max (nor, for dom0, go below 128 MiB); Xen's max_mem follows it (+1024 KiB);
 * memory/target = KiB and /vm/<uuid>/memory = MiB, in one transaction. Dom0 without the nodes gets
 * them first from getdomaininfo (libxl__fill_dom0_memory_info). Returns the target written.
 */
export async function setMemoryTarget(hv: Hypervisor, store: LifecycleStore, domid: number, targetKb: bigint): Promise<bigint> {
  const base = domPath(domid);
  if (domid === 0 && (await store.tryRead(`${base}/memory/target`)) === undefined) {
    const info = await hv.getDomainInfo(0);
    await store.transaction(async (tx) => {
      if ((await store.tryRead(`${base}/memory/target`, tx)) === undefined) await store.write(`${base}/memory/target`, String(info.totPages * 4n), tx);
      if ((await store.tryRead(`${base}/memory/static-max`, tx)) === undefined) await store.write(`${base}/memory/static-max`, String(info.maxPages * 4n), tx);
    });
  }
  const info = await hv.getDomainInfo(domid);
  return store.transaction(async (tx) => {
    const current = await readKb(store, `${base}/memory/target`, tx);
    if (current === undefined) {
      throw new LifecycleError('TXL_LC_XENSTORE', `Cannot get target memory info from ${base}/memory/target`, { details: { domid } });
    }
    const staticMax = await readKb(store, `${base}/memory/static-max`, tx);
    if (staticMax === undefined) {
      throw new LifecycleError('TXL_LC_XENSTORE', `Cannot get memory info from ${base}/memory/static-max`, { details: { domid } });
    }
    const videoText = await store.tryRead(`${base}/memory/videoram`, tx);
    const videoram = videoText && /^\d+/.test(videoText) ? BigInt(/^\d+/.exec(videoText)![0]) : 0n;
    const next = targetKb - videoram;
    if (next > staticMax) {
      throw new LifecycleError('TXL_LC_INVALID', 'memory_dynamic_max must be less than or equal to memory_static_max', {
        details: { domid, targetKb: next, staticMaxKb: staticMax }, hint: `Raise the maximum first: txl mem-max ${domid} ${next}k`,
      });
    }
    if (next < 0n) throw new LifecycleError('TXL_LC_ARGS', `invalid memory target ${targetKb} KiB`, { details: { domid } });
    if (domid === 0 && next < MIN_DOM0_MEM_KIB) {
      throw new LifecycleError('TXL_LC_INVALID', `New target ${next} for dom0 is below the minimum threshold`, { details: { domid, targetKb: next } });
    }
    await hv.setMaxMem(domid, next + videoram + MAXMEM_CONSTANT_KIB);
    await store.write(`${base}/memory/target`, String(next), tx);
    await store.write(`/vm/${info.uuid}/memory`, String(next / 1024n), tx);
    return next;
  });
}

// ---- vCPUs ----------------------------------------------------------------------------------------

/** xl vcpu-set's number: strtoul semantics (leading digits; "2x" is 2), refusing no digits and > INT_MAX. */
export function parseVcpuCount(text: string): number | undefined {
  const m = /^[ \t\n\v\f\r]*\+?(\d+)/.exec(text);
  if (!m) return undefined;
  const n = BigInt(m[1]!);
  return n > 0x7fffffffn ? undefined : Number(n);
}

/**
 * libxl_set_vcpuonline for a PV guest with the first `count` vCPUs online: refuses 0 and more than
 * max_vcpu_id + 1; with `checkHost`, refuses growing past the host's CPUs (xl's overcommit check).
 * Writes cpu/<i>/availability = online|offline for every vCPU in one transaction.
 */
export async function setVcpusOnline(hv: Hypervisor, store: LifecycleStore, domid: number, count: number, opts: { checkHost?: boolean } = {}): Promise<void> {
  const info = await hv.getDomainInfo(domid);
  if (opts.checkHost) {
    const phys = await hv.physinfo();
    const hostCpus = phys.maxCpuId + 1;
    if (count > info.onlineVcpus && count > hostCpus) {
      throw new LifecycleError('TXL_LC_INVALID', `You are overcommmitting! You have ${hostCpus} physical CPUs and want ${count} vCPUs! Aborting, use --ignore-host to continue`, {
        details: { domid, count, hostCpus },
      });
    }
  }
  const max = info.maxVcpuId === 0xffffffff ? 0 : info.maxVcpuId + 1;
  if (count === 0) {
    throw new LifecycleError('TXL_LC_INVALID', `libxl_set_vcpuonline failed domid=${domid} max_vcpus=0, rc: -3`, { hint: 'Requested 0 VCPUs!', details: { domid } });
  }
  if (count > max) {
    throw new LifecycleError('TXL_LC_INVALID', `libxl_set_vcpuonline failed domid=${domid} max_vcpus=${count}, rc: -3`, {
      hint: `Requested ${count} VCPUs, however maxcpus is ${max}!`, details: { domid, count, max },
    });
  }
  await store.transaction(async (tx) => {
    for (let i = 0; i < max; i++) await store.write(`${domPath(domid)}/cpu/${i}/availability`, i < count ? 'online' : 'offline', tx);
  });
}
