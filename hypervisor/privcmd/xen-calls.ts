// Typed hypercalls over privcmd: each one serialises its structs into hypercall-safe memory,
// issues the call, decodes the reply and turns errno into a typed HypervisorError.
import {
  CONSOLEIO, CPUPOOL_OP_FREEINFO, DOMCTL, DOMCTL_SCHEDOP, EVTCHNOP, GNTTABOP, HYPERCALL, MMUEXT, SCHEDOP, SCHEDULER_NAMES,
  SHUTDOWN_REASON, SYSCTL, VCPUAFFINITY, XENMEM, XENVER, type ShutdownReason,
} from '../abi/constants.js';
import type { FieldMap, Struct, Encodable, Decoded } from '../abi/layout.js';
import * as S from '../abi/structs.js';
import { HypervisorError, errnoName, hypercallError } from '../errors.js';
import {
  decodeDomainFlags, uuidFromBytes, uuidToBytes,
  type CreateDomainOptions, type DomainInfo, type DomainSchedParams, type HostExtras, type PhysInfo, type VcpuInfo, type XenVersionInfo,
} from '../hypervisor.js';
import type { HcAlloc } from './device.js';
import { PrivcmdDevice } from './device.js';
import type { Sys } from './ffi.js';

type DomainInfoRaw = Decoded<typeof S.getdomaininfo.fields>;

/** Turns a raw getdomaininfo record into DomainInfo. */
export function toDomainInfo(raw: DomainInfoRaw): DomainInfo {
  return {
    domid: raw.domain,
    flags: raw.flags,
    ...decodeDomainFlags(raw.flags),
    totPages: raw.tot_pages,
    maxPages: raw.max_pages,
    outstandingPages: raw.outstanding_pages,
    sharedPages: raw.shr_pages,
    pagedPages: raw.paged_pages,
    sharedInfoFrame: raw.shared_info_frame,
    cpuTimeNs: raw.cpu_time,
    onlineVcpus: raw.nr_online_vcpus,
    maxVcpuId: raw.max_vcpu_id,
    ssidref: raw.ssidref,
    uuid: uuidFromBytes(raw.handle),
    cpupool: raw.cpupool,
    gpaddrBits: raw.gpaddr_bits,
  };
}

const bitsToCpus = (bytes: Uint8Array, nrBits: number): number[] => {
  const cpus: number[] = [];
  for (let i = 0; i < nrBits; i++) if ((bytes[i >> 3]! >> (i & 7)) & 1) cpus.push(i);
  return cpus;
};

/** Populate in batches of this many extents (256 KiB of xen_pfn_t per hypercall). */
const POPULATE_BATCH = 32768;

/** Synchronous typed hypercalls for one running Xen (ABI chosen by probing xen_version). */
export class XenCalls {
  private constructor(
    readonly device: PrivcmdDevice,
    readonly abi: S.XenAbi,
    /** "4.17" etc. as reported by XENVER_version, for messages. */
    readonly runningVersion: string,
  ) {}

  /**
   * Probes XENVER_version and picks the layout table; throws TXL_HV_UNSUPPORTED_VERSION naming the
   * running and the supported versions when there is none.
   */
  static probe(device: PrivcmdDevice): XenCalls {
    const r = device.memory.scope((alloc) => device.hypercall(alloc, HYPERCALL.xen_version, [BigInt(XENVER.version), 0n]));
    if (!r.ok) {
      throw hypercallError('xen_version(XENVER_version)', r.errno, { hint: 'Is this a Xen dom0 with a working xen-privcmd driver?' });
    }
    const major = r.value >>> 16;
    const minor = r.value & 0xffff;
    const abi = S.abiForVersion(major, minor);
    if (!abi) {
      throw new HypervisorError('TXL_HV_UNSUPPORTED_VERSION', `Xen ${major}.${minor} is not supported by this txl (it speaks the ABIs of Xen 4.17 and 4.20)`, {
        details: { running: `${major}.${minor}`, supported: ['4.17', '4.20'] },
        hint: 'Run txl on Xen 4.17 (Debian 12) or 4.20 (Debian 13), or use a txl release for your Xen.',
      });
    }
    return new XenCalls(device, abi, `${major}.${minor}`);
  }

  private fail(what: string, errno: number, domid?: number): never {
    throw hypercallError(what, errno, {
      ...(domid === undefined ? {} : { domid }),
      xen: this.runningVersion,
      ...(errnoName(errno) === 'EACCES'
        ? { hint: `Xen ${this.runningVersion} refused domctl interface 0x${this.abi.domctlInterfaceVersion.toString(16)} / sysctl 0x${this.abi.sysctlInterfaceVersion.toString(16)} (txl's ${this.abi.release} layouts); txl supports Xen 4.17 (domctl 0x15) and 4.20 (domctl 0x17).` }
        : {}),
    });
  }

  private check(what: string, r: Sys<number>, domid?: number): number {
    if (!r.ok) this.fail(what, r.errno, domid);
    return r.value;
  }

  private call(alloc: HcAlloc, op: number, args: readonly bigint[]): Sys<number> {
    return this.device.hypercall(alloc, op, args);
  }

  /** One domctl: header + payload in hypercall memory; `prepare` may allocate nested buffers. */
  private domctl<F extends FieldMap, T>(
    what: string, cmd: number, domid: number, payload: Struct<F> | undefined, value: Encodable<F> | undefined,
    after: (out: Decoded<F> | undefined, domain: number, alloc: HcAlloc) => T,
    prepare?: (alloc: HcAlloc) => Encodable<F>,
  ): T {
    return this.device.memory.scope((alloc) => {
      const buf = alloc(S.xen_domctl.size);
      const extra = prepare ? prepare(alloc) : undefined;
      S.xen_domctl.write(buf.view, 0, { cmd, interface_version: this.abi.domctlInterfaceVersion, domain: domid });
      if (payload) payload.write(buf.view, S.xen_domctl.offsets.u, { ...(value ?? {}), ...(extra ?? {}) } as Encodable<F>);
      const r = this.call(alloc, HYPERCALL.domctl, [buf.addr]);
      if (!r.ok) this.fail(`domctl ${what}`, r.errno, domid);
      const out = payload ? payload.read(buf.view, S.xen_domctl.offsets.u) : undefined;
      return after(out, buf.view.getUint16(S.xen_domctl.offsets.domain, true), alloc);
    });
  }

  private sysctl<F extends FieldMap, T>(
    what: string, cmd: number, payload: Struct<F>, prepare: (alloc: HcAlloc) => Encodable<F>,
    after: (out: Decoded<F>) => T,
  ): T {
    return this.device.memory.scope((alloc) => {
      const buf = alloc(S.xen_sysctl.size);
      const value = prepare(alloc);
      S.xen_sysctl.write(buf.view, 0, { cmd, interface_version: this.abi.sysctlInterfaceVersion });
      payload.write(buf.view, S.xen_sysctl.offsets.u, value);
      const r = this.call(alloc, HYPERCALL.sysctl, [buf.addr]);
      if (!r.ok) this.fail(`sysctl ${what}`, r.errno);
      return after(payload.read(buf.view, S.xen_sysctl.offsets.u));
    });
  }

  // ---- xen_version -------------------------------------------------------------------------

  private versionBytes(sub: number, size: number): Uint8Array | undefined {
    return this.device.memory.scope((alloc) => {
      const buf = alloc(size);
      const r = this.call(alloc, HYPERCALL.xen_version, [BigInt(sub), buf.addr]);
      return r.ok ? buf.bytes.slice() : undefined;
    });
  }

  private versionString(sub: number, size: number): string {
    const b = this.versionBytes(sub, size);
    if (!b) return '';
    const end = b.indexOf(0);
    return Buffer.from(b.subarray(0, end < 0 ? b.length : end)).toString('latin1');
  }

  /** All xen_version facts `xl info` prints. */
  versionInfo(): XenVersionInfo {
    const [major, minor] = this.runningVersion.split('.').map(Number) as [number, number];
    const ci = this.versionBytes(XENVER.compile_info, S.xen_compile_info.size);
    const compile = ci ? S.xen_compile_info.decode(ci) : { compiler: '', compile_by: '', compile_domain: '', compile_date: '' };
    const pp = this.versionBytes(XENVER.platform_parameters, S.xen_platform_parameters.size);
    const pagesize = this.device.memory.scope((alloc) => this.call(alloc, HYPERCALL.xen_version, [BigInt(XENVER.pagesize), 0n]));
    return {
      major, minor, abi: this.abi.release,
      extra: this.versionString(XENVER.extraversion, 16),
      capabilities: this.versionString(XENVER.capabilities, 1024),
      changeset: this.versionString(XENVER.changeset, 64),
      commandline: this.versionString(XENVER.commandline, 1024),
      compiler: compile.compiler,
      compileBy: compile.compile_by,
      compileDomain: compile.compile_domain,
      compileDate: compile.compile_date,
      pagesize: pagesize.ok ? pagesize.value : 4096,
      virtStart: pp ? S.xen_platform_parameters.decode(pp).virt_start : 0n,
      buildId: this.buildId(),
    };
  }

  /** XENVER_build_id as hex; '' when Xen has none (EPERM/ENODATA/0), as libxl does. */
  private buildId(): string {
    return this.device.memory.scope((alloc) => {
      const size = 4096;
      const buf = alloc(size);
      buf.view.setUint32(0, size - 4, true);
      const r = this.call(alloc, HYPERCALL.xen_version, [BigInt(XENVER.build_id), buf.addr]);
      if (!r.ok || r.value <= 0) return '';
      return Buffer.from(buf.bytes.subarray(4, 4 + r.value)).toString('hex');
    });
  }

  /** XENVER_capabilities alone (the builder's guest-type check). */
  capabilities(): string {
    return this.versionString(XENVER.capabilities, 1024);
  }

  // ---- sysctl ------------------------------------------------------------------------------

  physinfo(): PhysInfo {
    return this.sysctl('physinfo', SYSCTL.physinfo, S.physinfo, () => ({}), (p) => ({
      threadsPerCore: p.threads_per_core,
      coresPerSocket: p.cores_per_socket,
      nrCpus: p.nr_cpus,
      maxCpuId: p.max_cpu_id,
      nrNodes: p.nr_nodes,
      maxNodeId: p.max_node_id,
      cpuKhz: p.cpu_khz,
      capabilities: p.capabilities,
      totalPages: p.total_pages,
      freePages: p.free_pages,
      scrubPages: p.scrub_pages,
      outstandingPages: p.outstanding_pages,
      maxMfn: p.max_mfn,
      hwCap: p.hw_cap,
    }));
  }

  /** Scheduler, free CPUs and sharing counters (libxl_get_scheduler/freecpus, xc_sharing_*). */
  hostExtras(nrCpuBits: number): HostExtras {
    const schedId = this.schedulerId();
    const bitmapBytes = Math.ceil(Math.max(nrCpuBits, 1) / 8);
    let mapBytes: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
    const freeCpus = this.sysctl('cpupool_op FREEINFO', SYSCTL.cpupool_op, S.cpupool_op, (alloc) => {
      const map = alloc(bitmapBytes);
      mapBytes = map.bytes;
      return { op: CPUPOOL_OP_FREEINFO, cpumap: { bitmap: map.addr, nr_bits: bitmapBytes * 8 } };
    }, () => bitsToCpus(mapBytes, bitmapBytes * 8).length);
    const memop = (sub: number): bigint => this.device.memory.scope((alloc) => {
      const r = this.call(alloc, HYPERCALL.memory_op, [BigInt(sub), 0n]);
      return r.ok ? BigInt(r.value) : 0n;
    });
    return {
      scheduler: SCHEDULER_NAMES[schedId] ?? `unknown(${schedId})`,
      freeCpus,
      sharingFreedPages: memop(XENMEM.get_sharing_freed_pages),
      sharingUsedFrames: memop(XENMEM.get_sharing_shared_pages),
    };
  }

  /** XEN_SYSCTL_sched_id: the XEN_SCHEDULER_* id of the default cpupool. */
  private schedulerId(): number {
    return this.sysctl('sched_id', SYSCTL.sched_id, S.sched_id, () => ({}), (o) => o.sched_id);
  }

  /**
   * The domain's scheduler parameters (libxl_domain_sched_params_get): the scheduler is the default
   * cpupool's (sysctl sched_id); for credit (5) and credit2 (6) XEN_DOMCTL_scheduler_op getinfo gives
   * weight and cap. Other schedulers are reported by name only.
   */
  schedParams(domid: number): DomainSchedParams {
    const schedId = this.schedulerId();
    const scheduler = SCHEDULER_NAMES[schedId] ?? `unknown(${schedId})`;
    if (scheduler !== 'credit' && scheduler !== 'credit2') return { scheduler };
    return this.domctl('scheduler_op', DOMCTL.scheduler_op, domid, S.scheduler_op, { sched_id: schedId, cmd: DOMCTL_SCHEDOP.getinfo }, (out) => ({
      scheduler, weight: out!.weight, cap: out!.cap,
    }));
  }

  /** sysctl getdomaininfolist from `first`, at most `max` records. */
  getDomainInfoList(first: number, max: number): DomainInfo[] {
    let records: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
    let count = 0;
    this.sysctl('getdomaininfolist', SYSCTL.getdomaininfolist, S.getdomaininfolist, (alloc) => {
      const buf = alloc(max * S.getdomaininfo.size);
      records = buf.bytes;
      return { first_domain: first, max_domains: max, buffer: buf.addr };
    }, (out) => {
      count = out.num_domains;
    });
    const list: DomainInfo[] = [];
    for (let i = 0; i < count; i++) list.push(toDomainInfo(S.getdomaininfo.decode(records.subarray(i * S.getdomaininfo.size))));
    return list;
  }

  /** Every domain, ascending domid, in batches of 256 like libxl_list_domain. */
  listDomains(): DomainInfo[] {
    const all: DomainInfo[] = [];
    let first = 0;
    for (;;) {
      const batch = this.getDomainInfoList(first, 256);
      all.push(...batch);
      if (batch.length < 256) return all;
      first = batch[batch.length - 1]!.domid + 1;
    }
  }

  /** sysctl readconsole, incrementally from index 0 until Xen has nothing more (xc_readconsolering). */
  readConsole(clear: boolean): string {
    const chunks: Buffer[] = [];
    let index = 0;
    for (;;) {
      let data: Buffer = Buffer.alloc(0);
      this.sysctl('readconsole', SYSCTL.readconsole, S.readconsole, (alloc) => {
        const buf = alloc(16384);
        data = Buffer.from(buf.bytes.buffer, buf.bytes.byteOffset, buf.bytes.byteLength);
        return { clear: clear ? 1 : 0, incremental: 1, index, buffer: buf.addr, count: 16384 };
      }, (out) => {
        data = Buffer.from(data.subarray(0, out.count));
        index = out.index;
      });
      if (data.length === 0) break;
      chunks.push(data);
    }
    return Buffer.concat(chunks).toString('latin1');
  }

  // ---- domctl ------------------------------------------------------------------------------

  /** XEN_DOMCTL_getdomaininfo; undefined when the domain does not exist (ESRCH, or 4.17's next-domain reply). */
  getDomainInfo(domid: number): DomainInfo | undefined {
    try {
      return this.domctl('getdomaininfo', DOMCTL.getdomaininfo, domid, S.getdomaininfo, {}, (out) => {
        const info = toDomainInfo(out!);
        return info.domid === domid ? info : undefined; // 4.17: the next existing domain >= domid
      });
    } catch (error) {
      if (error instanceof HypervisorError && error.code === 'TXL_HV_NO_DOMAIN') return undefined;
      throw error;
    }
  }

  createDomain(o: CreateDomainOptions): number {
    const cd = this.abi.createdomain as Struct<FieldMap>;
    const value = {
      ssidref: o.ssidref ?? 0,
      handle: o.uuid ? uuidToBytes(o.uuid) : new Uint8Array(16),
      flags: o.flags ?? 0,
      max_vcpus: o.maxVcpus,
      max_evtchn_port: o.maxEvtchnPort ?? 1023,
      max_grant_frames: o.maxGrantFrames ?? -1,
      max_maptrack_frames: o.maxMaptrackFrames ?? -1,
      grant_opts: o.maxGrantVersion ?? 1,
    } as unknown as Encodable<FieldMap>;
    return this.domctl('createdomain', DOMCTL.createdomain, o.domid ?? 0, cd, value, (_out, domain) => domain);
  }

  private simple(what: string, cmd: number, domid: number): void {
    this.domctl(what, cmd, domid, undefined, undefined, () => undefined);
  }

  /** XEN_DOMCTL_destroydomain, retried while Xen answers EAGAIN (xc_domain_destroy does the same). */
  destroyDomain(domid: number): void {
    for (let attempt = 0; ; attempt++) {
      try {
        this.simple('destroydomain', DOMCTL.destroydomain, domid);
        return;
      } catch (error) {
        if (!(error instanceof HypervisorError && error.errno === 'EAGAIN') || attempt > 10000) throw error;
      }
    }
  }
  pause(domid: number): void { this.simple('pausedomain', DOMCTL.pausedomain, domid); }
  unpause(domid: number): void { this.simple('unpausedomain', DOMCTL.unpausedomain, domid); }

  setMaxVcpus(domid: number, max: number): void {
    this.domctl('max_vcpus', DOMCTL.max_vcpus, domid, S.max_vcpus, { max }, () => undefined);
  }
  setMaxMem(domid: number, maxKib: bigint): void {
    this.domctl('max_mem', DOMCTL.max_mem, domid, S.max_mem, { max_memkb: maxKib }, () => undefined);
  }
  setAddressSize(domid: number, bits: number): void {
    this.domctl('set_address_size', DOMCTL.set_address_size, domid, S.address_size, { size: bits }, () => undefined);
  }
  setTimeOffset(domid: number, seconds: bigint): void {
    this.domctl('settimeoffset', DOMCTL.settimeoffset, domid, S.settimeoffset, { time_offset_seconds: seconds }, () => undefined);
  }
  hypercallInit(domid: number, gmfn: number): void {
    this.domctl('hypercall_init', DOMCTL.hypercall_init, domid, S.hypercall_init, { gmfn: BigInt(gmfn) }, () => undefined);
  }

  /** XEN_DOMCTL_setvcpucontext with an encoded vcpu_guest_context copied into hypercall memory. */
  setVcpuContext(domid: number, vcpu: number, context: Uint8Array): void {
    if (context.length !== S.vcpu_guest_context.size) {
      throw new HypervisorError('TXL_HV_EINVAL', `vcpu context is ${context.length} bytes; struct vcpu_guest_context is ${S.vcpu_guest_context.size}`, { details: { domid, vcpu } });
    }
    this.domctl('setvcpucontext', DOMCTL.setvcpucontext, domid, S.vcpucontext, { vcpu }, () => undefined, (alloc) => {
      const ctx = alloc(context.length);
      ctx.bytes.set(context);
      return { ctxt: ctx.addr };
    });
  }

  getVcpuContext(domid: number, vcpu: number): Uint8Array {
    let ctx: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
    this.domctl('getvcpucontext', DOMCTL.getvcpucontext, domid, S.vcpucontext, { vcpu }, () => {
      ctx = ctx.slice();
    }, (alloc) => {
      const buf = alloc(S.vcpu_guest_context.size);
      ctx = buf.bytes;
      return { ctxt: buf.addr };
    });
    return ctx;
  }

  /** getvcpuinfo + getvcpuaffinity for one vCPU. */
  vcpuInfo(domid: number, vcpu: number, nrCpus: number): VcpuInfo {
    const info = this.domctl('getvcpuinfo', DOMCTL.getvcpuinfo, domid, S.getvcpuinfo, { vcpu }, (out) => out!);
    const nbytes = Math.ceil(Math.max(nrCpus, 1) / 8);
    let hard: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
    let soft: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
    this.domctl('getvcpuaffinity', DOMCTL.getvcpuaffinity, domid, S.vcpuaffinity, { vcpu }, () => {
      hard = hard.slice();
      soft = soft.slice();
    }, (alloc) => {
      const h = alloc(nbytes);
      const s = alloc(nbytes);
      hard = h.bytes;
      soft = s.bytes;
      return {
        flags: VCPUAFFINITY.hard | VCPUAFFINITY.soft,
        cpumap_hard: { bitmap: h.addr, nr_bits: nbytes * 8 },
        cpumap_soft: { bitmap: s.addr, nr_bits: nbytes * 8 },
      };
    });
    return {
      vcpu,
      online: info.online !== 0,
      blocked: info.blocked !== 0,
      running: info.running !== 0,
      cpuTimeNs: info.cpu_time,
      cpu: info.cpu,
      hardAffinity: bitsToCpus(hard, nrCpus),
      softAffinity: bitsToCpus(soft, nrCpus),
    };
  }

  // ---- memory_op ---------------------------------------------------------------------------

  private reservation(what: string, sub: number, domid: number, order: number, frames: readonly number[] | number): { done: number; out: number[] } {
    const n = typeof frames === 'number' ? frames : frames.length;
    const out: number[] = [];
    let done = 0;
    for (let start = 0; start < n; start += POPULATE_BATCH) {
      const count = Math.min(POPULATE_BATCH, n - start);
      const r = this.device.memory.scope((alloc) => {
        const ext = alloc(count * 8);
        if (typeof frames !== 'number') for (let i = 0; i < count; i++) ext.view.setBigUint64(i * 8, BigInt(frames[start + i]!), true);
        const res = alloc(S.xen_memory_reservation.size);
        S.xen_memory_reservation.write(res.view, 0, { extent_start: ext.addr, nr_extents: BigInt(count), extent_order: order, domid });
        const rr = this.call(alloc, HYPERCALL.memory_op, [BigInt(sub), res.addr]);
        if (rr.ok) for (let i = 0; i < rr.value; i++) out.push(Number(ext.view.getBigUint64(i * 8, true)));
        return rr;
      });
      const got = this.check(`memory_op ${what}`, r, domid);
      done += got;
      if (got < count) break;
    }
    return { done, out };
  }

  /** XENMEM_populate_physmap: one 2^order extent at each gpfn; returns the MFNs. Throws on partial success. */
  populatePhysmap(domid: number, order: number, gpfns: readonly number[]): number[] {
    const { done, out } = this.reservation('populate_physmap', XENMEM.populate_physmap, domid, order, gpfns);
    if (done < gpfns.length) {
      throw new HypervisorError('TXL_HV_ENOMEM', `populate_physmap on domain ${domid}: Xen gave ${done} of ${gpfns.length} order-${order} extents`, {
        errno: 'ENOMEM', details: { domid, order, requested: gpfns.length, done },
        hint: order > 0 ? 'Retry with order 0 (4 KiB pages).' : "Check the domain's max_mem and the host's free memory ('txl info').",
      });
    }
    return out;
  }

  increaseReservation(domid: number, order: number, count: number): number[] {
    return this.reservation('increase_reservation', XENMEM.increase_reservation, domid, order, count).out;
  }

  decreaseReservation(domid: number, order: number, frames: readonly number[]): number {
    return this.reservation('decrease_reservation', XENMEM.decrease_reservation, domid, order, frames).done;
  }

  // ---- event channels, grant tables, mmuext, sched -----------------------------------------

  evtchnAllocUnbound(domid: number, remoteDomid: number): number {
    return this.device.memory.scope((alloc) => {
      const a = alloc(S.evtchn_alloc_unbound.size);
      S.evtchn_alloc_unbound.write(a.view, 0, { dom: domid, remote_dom: remoteDomid });
      this.check('event_channel_op alloc_unbound', this.call(alloc, HYPERCALL.event_channel_op, [BigInt(EVTCHNOP.alloc_unbound), a.addr]), domid);
      return S.evtchn_alloc_unbound.read(a.view, 0).port;
    });
  }

  evtchnClose(port: number): void {
    this.device.memory.scope((alloc) => {
      const a = alloc(S.evtchn_close.size);
      S.evtchn_close.write(a.view, 0, { port });
      this.check(`event_channel_op close (port ${port})`, this.call(alloc, HYPERCALL.event_channel_op, [BigInt(EVTCHNOP.close), a.addr]));
    });
  }

  /** GNTTABOP_setup_table: the MFNs of the first `nrFrames` grant frames of `domid`. */
  gnttabSetupTable(domid: number, nrFrames: number): number[] {
    return this.device.memory.scope((alloc) => {
      const frames = alloc(nrFrames * 8);
      const a = alloc(S.gnttab_setup_table.size);
      S.gnttab_setup_table.write(a.view, 0, { dom: domid, nr_frames: nrFrames, frame_list: frames.addr });
      this.check('grant_table_op setup_table', this.call(alloc, HYPERCALL.grant_table_op, [BigInt(GNTTABOP.setup_table), a.addr, 1n]), domid);
      const status = S.gnttab_setup_table.read(a.view, 0).status;
      if (status !== 0) {
        throw new HypervisorError('TXL_HV_HYPERCALL', `grant_table_op setup_table on domain ${domid}: grant status ${status}`, { details: { domid, status } });
      }
      return Array.from({ length: nrFrames }, (_x, i) => Number(frames.view.getBigUint64(i * 8, true)));
    });
  }

  /** mmuext_op MMUEXT_PIN_L{1..4}_TABLE of `mfn` on behalf of `domid` (foreigndom). */
  pinTable(domid: number, level: 1 | 2 | 3 | 4, mfn: number): void {
    const cmd = [MMUEXT.pin_l1, MMUEXT.pin_l2, MMUEXT.pin_l3, MMUEXT.pin_l4][level - 1]!;
    this.device.memory.scope((alloc) => {
      const op = alloc(S.mmuext_op.size);
      S.mmuext_op.write(op.view, 0, { cmd, arg1: BigInt(mfn) });
      const done = alloc(4);
      this.check(`mmuext_op pin L${level} table (mfn ${mfn})`, this.call(alloc, HYPERCALL.mmuext_op, [op.addr, 1n, done.addr, BigInt(domid)]), domid);
    });
  }

  remoteShutdown(domid: number, reason: ShutdownReason): void {
    this.device.memory.scope((alloc) => {
      const a = alloc(S.sched_remote_shutdown.size);
      S.sched_remote_shutdown.write(a.view, 0, { domain_id: domid, reason: SHUTDOWN_REASON[reason] });
      this.check('sched_op remote_shutdown', this.call(alloc, HYPERCALL.sched_op, [BigInt(SCHEDOP.remote_shutdown), a.addr]), domid);
    });
  }

  /** console_io CONSOLEIO_read: up to `count` bytes of pending Xen console input (dom0 only). */
  consoleIoRead(count: number): string {
    return this.device.memory.scope((alloc) => {
      const buf = alloc(count);
      const n = this.check('console_io read', this.call(alloc, HYPERCALL.console_io, [BigInt(CONSOLEIO.read), BigInt(count), buf.addr]));
      return Buffer.from(buf.bytes.subarray(0, n)).toString('latin1');
    });
  }
}
