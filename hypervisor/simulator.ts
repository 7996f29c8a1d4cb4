// SimulatedHypervisor: a model of Xen for tests. It hands out domids like Xen's rover, tracks
// memory, vCPUs, pause counts and shutdown state, validates PV page tables on pin, and fails
// out-of-order requests with the same typed errors as the privcmd backend.
import type { DomId, Frame, GrantSeed, GuestMapping } from '../domain-builder/ports.js';
import { DOMID_FIRST_RESERVED, PHYSCAP, SHUTDOWN_REASON, XEN_PAGE_SIZE, type ShutdownReason } from './abi/constants.js';
import { grant_entry_v1, vcpu_guest_context } from './abi/structs.js';
import { HypervisorError, ERRNO, hypercallError, mapFailure, noSuchDomain } from './errors.js';
import {
  decodeDomainFlags, matchRequestedDomain, uuidFromBytes, uuidToBytes,
  type CreateDomainOptions, type DomainInfo, type DomainSchedParams, type EventChannelDevice, type HostExtras, type Hypervisor, type PhysInfo, type VcpuInfo,
  type XenVersionInfo,
} from './hypervisor.js';

/** Options of a simulated host. */
export interface SimulatorOptions {
  /** Which Xen to model (ABI quirks, version strings). Default '4.17'. */
  readonly xen?: '4.17' | '4.20';
  /** Host RAM in MiB (default 4096). */
  readonly totalMemoryMiB?: number;
  /** dom0's RAM in MiB (default 1024). */
  readonly dom0MemoryMiB?: number;
  /** Physical CPUs (default 2). */
  readonly nrCpus?: number;
  /** Whether order-9 (2 MiB) extents can be allocated (default true). */
  readonly superpages?: boolean;
  /** Wall clock in ms (default Date.now); tests may pin it. */
  readonly now?: () => number;
}

/** Something that happened to a simulated domain (for an orchestrator that mirrors xenstored's watches). */
export type SimEvent =
  | { readonly type: 'shutdown'; readonly domid: number; readonly reason: ShutdownReason }
  | { readonly type: 'released'; readonly domid: number };

interface SimVcpu {
  context: Uint8Array | undefined;
  online: boolean;
  cpuTimeNs: bigint;
}

interface SimDomain {
  readonly domid: number;
  readonly uuid: Uint8Array;
  readonly maxVcpus: number;
  readonly grantVersion: number;
  vcpus: SimVcpu[];
  maxPages: bigint;
  /** gpfn -> mfn of populated guest RAM. */
  readonly p2m: Map<number, number>;
  /** Machine frames the domain owns (RAM and increase_reservation pages). */
  readonly owned: Set<number>;
  readonly sharedInfoMfn: number;
  readonly grantFrameMfn: number;
  controllerPauseCount: number;
  shutdownCode: number | undefined;
  dying: boolean;
  addressSize: number | undefined;
  timeOffset: bigint;
  readonly pinned: Set<number>;
  nextPort: number;
  readonly ports: Map<number, { remote: number }>;
  readonly createdMs: number;
}

/** Serialised simulator state (for TXL_BACKEND=simulator state files): no page contents. */
export interface SimulatorState {
  readonly version: 1;
  readonly options: Omit<SimulatorOptions, 'now'>;
  readonly rover: number;
  readonly nextMfn: number;
  readonly console: string;
  readonly domains: readonly {
    domid: number; uuid: string; maxVcpus: number; grantVersion: number; vcpus: { online: boolean; hasContext: boolean; cpuTimeNs: string }[];
    maxPages: string; p2m: [number, number][]; owned: number[]; sharedInfoMfn: number; grantFrameMfn: number;
    controllerPauseCount: number; shutdownCode: number | null; dying: boolean; addressSize: number | null;
    timeOffset: string; pinned: number[]; nextPort: number; ports: [number, number][]; createdMs: number;
  }[];
}

const VGCF_ONLINE = 1n << 5n;
const PTE_PRESENT = 1n;
const PTE_RW = 2n;
const PTE_PSE = 1n << 7n;
const PTE_FRAME = ((1n << 40n) - 1n) << 12n;
/** Xen's own L4 slots (ROOT_PAGETABLE_FIRST/LAST_XEN_SLOT, asm-x86/config.h): guests cannot use them. */
const XEN_L4_SLOTS = { first: 256, last: 271 };

/** x86_64 PV hypercall stub Xen writes at 32-byte slot i: push %rcx; push %r11; mov $i,%eax; syscall; pop %r11; pop %rcx; ret. */
function hypercallStub(i: number): number[] {
  return [0x51, 0x41, 0x53, 0xb8, i & 0xff, (i >> 8) & 0xff, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3];
}

const fail = (what: string, errno: keyof typeof ERRNO, domid?: number, hint?: string): never => {
  throw hypercallError(what, ERRNO[errno]!, { ...(domid === undefined ? {} : { domid }), ...(hint ? { hint } : {}) });
};

/** A model of a Xen host (see file comment). Implements Hypervisor and the builder's ports. */
export class SimulatedHypervisor implements Hypervisor {
  readonly backend = 'simulator' as const;
  private readonly opts: Required<Omit<SimulatorOptions, 'now'>>;
  private readonly now: () => number;
  private readonly domains = new Map<number, SimDomain>();
  private readonly memory = new Map<number, Uint8Array>();
  /** Live foreign mappings: mfn -> count of writable mappings. */
  private readonly mapped = new Map<number, number>();
  private readonly listeners = new Set<(e: SimEvent) => void>();
  private rover = 0;
  private nextMfn = 0x100000;
  private consoleRing = '';

  constructor(options: SimulatorOptions = {}) {
    this.opts = {
      xen: options.xen ?? '4.17',
      totalMemoryMiB: options.totalMemoryMiB ?? 4096,
      dom0MemoryMiB: options.dom0MemoryMiB ?? 1024,
      nrCpus: options.nrCpus ?? 2,
      superpages: options.superpages ?? true,
    };
    this.now = options.now ?? Date.now;
    const dom0 = this.newDomain(0, new Uint8Array(16), this.opts.nrCpus, 1);
    dom0.vcpus = Array.from({ length: this.opts.nrCpus }, () => ({ context: undefined, online: true, cpuTimeNs: 0n }));
    dom0.controllerPauseCount = 0;
    dom0.maxPages = BigInt(this.opts.dom0MemoryMiB) * 256n;
    for (let i = 0; i < this.opts.dom0MemoryMiB * 256; i++) dom0.owned.add(this.nextMfn++);
    this.domains.set(0, dom0);
    const v = this.versionNumbers();
    this.consoleRing = ` Xen ${v.major}.${v.minor}${v.extra}\n(XEN) Xen version ${v.major}.${v.minor}${v.extra} (txl simulator)\n(XEN) Command line: dom0_mem=${this.opts.dom0MemoryMiB}M\n(XEN) Simulated host: ${this.opts.nrCpus} CPUs, ${this.opts.totalMemoryMiB} MiB\n`;
  }

  // ---- test controls -------------------------------------------------------------------------

  /** Subscribes to domain events (shutdown, released). Returns an unsubscribe function. */
  subscribe(listener: (e: SimEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The guest `domid` shuts itself down (SCHEDOP_shutdown): poweroff, reboot, crash... */
  injectShutdown(domid: number, reason: ShutdownReason): void {
    const d = this.dom(domid, 'guest shutdown');
    if (d.shutdownCode !== undefined) return;
    d.shutdownCode = SHUTDOWN_REASON[reason];
    for (const l of this.listeners) l({ type: 'shutdown', domid, reason });
  }

  /** Adds CPU time to vCPU `vcpu` (default 0) of `domid`, as if it had run that long. */
  addCpuTime(domid: number, ns: bigint, vcpu = 0): void {
    const v = this.dom(domid, 'cpu time').vcpus[vcpu];
    if (!v) return fail('cpu time', 'EINVAL', domid, `vcpu ${vcpu} does not exist`);
    v.cpuTimeNs += ns;
  }

  /** Appends a line to the hypervisor console ring (what `xl dmesg` shows). */
  log(line: string): void {
    this.consoleRing += `(XEN) ${line}\n`;
  }

  /** The frames populated for `domid`: gpfn -> mfn (a copy). */
  physmap(domid: number): Map<number, number> {
    return new Map(this.dom(domid, 'physmap').p2m);
  }

  /** Reads a whole machine page (zeroes if never written). */
  readFrame(mfn: number): Uint8Array {
    return this.page(mfn).slice();
  }

  /** Grant entries 0..n-1 of `domid`'s first grant frame. */
  grantEntries(domid: number, n = 2): { flags: number; domid: number; frame: number }[] {
    const page = this.page(this.dom(domid, 'grant table').grantFrameMfn);
    const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
    return Array.from({ length: n }, (_x, i) => grant_entry_v1.read(view, i * grant_entry_v1.size));
  }

  /** The vCPU context set for `vcpu` (undefined if never set). */
  vcpuContext(domid: number, vcpu: number): Uint8Array | undefined {
    return this.dom(domid, 'vcpu context').vcpus[vcpu]?.context?.slice();
  }

  /** Whether `mfn` is pinned as a top-level page table of `domid`. */
  isPinned(domid: number, mfn: number): boolean {
    return this.dom(domid, 'pin state').pinned.has(mfn);
  }

  // ---- internals -----------------------------------------------------------------------------

  private versionNumbers(): { major: number; minor: number; extra: string } {
    return this.opts.xen === '4.17' ? { major: 4, minor: 17, extra: '.5-sim' } : { major: 4, minor: 20, extra: '.1-sim' };
  }

  private newDomain(domid: number, uuid: Uint8Array, maxVcpus: number, grantVersion: number): SimDomain {
    return {
      domid, uuid, maxVcpus, grantVersion, vcpus: [], maxPages: 0n, p2m: new Map(), owned: new Set(),
      sharedInfoMfn: this.nextMfn++, grantFrameMfn: this.nextMfn++, controllerPauseCount: 1, shutdownCode: undefined,
      dying: false, addressSize: undefined, timeOffset: 0n, pinned: new Set(), nextPort: 1, ports: new Map(),
      createdMs: this.now(),
    };
  }

  private dom(domid: number, what: string): SimDomain {
    const d = this.domains.get(domid);
    if (!d) return fail(what, 'ESRCH', domid);
    return d;
  }

  /** A domain that is not dying (Xen refuses most operations on a dying domain with EINVAL). */
  private live(domid: number, what: string): SimDomain {
    const d = this.dom(domid, what);
    if (d.dying) fail(what, 'EINVAL', domid, `domain ${domid} is being destroyed`);
    return d;
  }

  private page(mfn: number): Uint8Array {
    let p = this.memory.get(mfn);
    if (!p) {
      p = new Uint8Array(XEN_PAGE_SIZE);
      this.memory.set(mfn, p);
    }
    return p;
  }

  private usedPages(): bigint {
    let n = 0n;
    for (const d of this.domains.values()) n += BigInt(d.owned.size);
    return n;
  }

  private freePages(): bigint {
    return BigInt(this.opts.totalMemoryMiB) * 256n - this.usedPages();
  }

  private ownerOf(mfn: number): SimDomain | undefined {
    for (const d of this.domains.values()) {
      if (d.owned.has(mfn) || d.sharedInfoMfn === mfn || d.grantFrameMfn === mfn) return d;
    }
    return undefined;
  }

  private rawDomainInfo(d: SimDomain): DomainInfo {
    let flags = 1 << 4; // XEN_DOMINF_blocked until a runnable vCPU is seen
    let online = 0;
    let cpuTime = 0n;
    const paused = d.controllerPauseCount > 0;
    const runnable = !paused && d.shutdownCode === undefined;
    for (const v of d.vcpus) {
      cpuTime += v.cpuTimeNs;
      if (!v.online) continue;
      online++;
      if (!runnable) flags &= ~(1 << 4); // a paused vCPU is neither blocked nor running
      if (d.domid === 0) flags = (flags & ~(1 << 4)) | (1 << 5); // dom0 is running: it is us
    }
    flags = online ? flags : 0;
    if (d.dying) flags |= 1 << 0;
    if (d.shutdownCode !== undefined) flags |= 1 << 2;
    if (paused) flags |= 1 << 3;
    // Xen ORs in shutdown_code << 16; it is SHUTDOWN_CODE_INVALID (~0) until the guest shuts down.
    flags = (flags | ((d.shutdownCode ?? 0xffff) << 16)) >>> 0;
    return {
      domid: d.domid, flags, ...decodeDomainFlags(flags),
      totPages: BigInt(d.owned.size), maxPages: d.maxPages, outstandingPages: 0n, sharedPages: 0n, pagedPages: 0n,
      sharedInfoFrame: BigInt(d.sharedInfoMfn), cpuTimeNs: cpuTime, onlineVcpus: online,
      maxVcpuId: d.vcpus.length ? d.vcpus.length - 1 : 0xffffffff, ssidref: 0, uuid: uuidFromBytes(d.uuid), cpupool: 0,
      gpaddrBits: 52,
    };
  }

  /** XEN_DOMCTL_getdomaininfo as the modelled Xen answers it (4.17: the next domain >= domid). */
  rawGetDomainInfo(domid: number): DomainInfo | undefined {
    if (domid >= DOMID_FIRST_RESERVED) return fail('domctl getdomaininfo', 'EINVAL', domid);
    if (this.opts.xen === '4.17') {
      const next = [...this.domains.keys()].sort((a, b) => a - b).find((id) => id >= domid);
      return next === undefined ? undefined : this.rawDomainInfo(this.domains.get(next)!);
    }
    const d = this.domains.get(domid);
    return d ? this.rawDomainInfo(d) : undefined;
  }

  private release(d: SimDomain): void {
    for (const mfn of [...d.owned, d.sharedInfoMfn, d.grantFrameMfn]) {
      if ((this.mapped.get(mfn) ?? 0) > 0) return; // pages still mapped by dom0: the domain lingers, dying
    }
    for (const mfn of [...d.owned, d.sharedInfoMfn, d.grantFrameMfn]) this.memory.delete(mfn);
    this.domains.delete(d.domid);
    for (const l of this.listeners) l({ type: 'released', domid: d.domid });
  }

  // ---- Hypervisor ----------------------------------------------------------------------------

  async xenVersion(): Promise<XenVersionInfo> {
    const v = this.versionNumbers();
    return {
      ...v, abi: this.opts.xen,
      capabilities: 'xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64',
      changeset: '', commandline: `dom0_mem=${this.opts.dom0MemoryMiB}M`, compiler: 'txl simulator', compileBy: 'txl',
      compileDomain: 'localdomain', compileDate: 'Thu Jan  1 00:00:00 UTC 1970', pagesize: XEN_PAGE_SIZE,
      virtStart: 0xffff800000000000n, buildId: '',
    };
  }

  async physinfo(): Promise<PhysInfo> {
    return {
      threadsPerCore: 1, coresPerSocket: this.opts.nrCpus, nrCpus: this.opts.nrCpus, maxCpuId: this.opts.nrCpus - 1,
      nrNodes: 1, maxNodeId: 0, cpuKhz: 2000000,
      capabilities: PHYSCAP.pv | PHYSCAP.gnttab_v1 | PHYSCAP.gnttab_v2,
      totalPages: BigInt(this.opts.totalMemoryMiB) * 256n, freePages: this.freePages(), scrubPages: 0n,
      outstandingPages: 0n, maxMfn: BigInt(this.opts.totalMemoryMiB) * 256n - 1n, hwCap: [0, 0, 0, 0, 0, 0, 0, 0],
    };
  }

  async hostExtras(): Promise<HostExtras> {
    return { scheduler: 'credit2', freeCpus: 0, sharingFreedPages: 0n, sharingUsedFrames: 0n };
  }

  async listDomains(): Promise<DomainInfo[]> {
    return [...this.domains.keys()].sort((a, b) => a - b).map((id) => this.rawDomainInfo(this.domains.get(id)!));
  }

  async findDomain(domid: number): Promise<DomainInfo | undefined> {
    return matchRequestedDomain(domid, this.rawGetDomainInfo(domid));
  }

  async getDomainInfo(domid: number): Promise<DomainInfo> {
    const info = await this.findDomain(domid);
    if (!info) throw noSuchDomain(domid);
    return info;
  }

  async createDomain(o: CreateDomainOptions): Promise<number> {
    const what = 'domctl createdomain';
    if (!Number.isInteger(o.maxVcpus) || o.maxVcpus < 1) fail(what, 'EINVAL', undefined, 'max_vcpus must be at least 1');
    const grant = o.maxGrantVersion ?? 1;
    if (grant !== 1 && grant !== 2) fail(what, 'EINVAL', undefined, 'grant_opts must name grant version 1 or 2');
    if ((o.flags ?? 0) & 1) fail(what, 'EINVAL', undefined, 'this simulated host has no HVM support');
    let uuid: Uint8Array;
    try {
      uuid = o.uuid ? uuidToBytes(o.uuid) : new Uint8Array(16);
    } catch (error) {
      throw new HypervisorError('TXL_HV_EINVAL', (error as Error).message, { details: { uuid: o.uuid } });
    }
    let domid: number;
    if (o.domid !== undefined && o.domid > 0 && o.domid < DOMID_FIRST_RESERVED) {
      if (this.domains.has(o.domid)) fail(what, 'EEXIST', o.domid);
      domid = o.domid;
    } else {
      // Xen's rover (xen/common/domctl.c): the next free id after the last one handed out.
      let candidate = this.rover + 1;
      for (;; candidate++) {
        if (candidate >= DOMID_FIRST_RESERVED) candidate = 1;
        if (!this.domains.has(candidate)) break;
        if (candidate === this.rover) fail(what, 'ENOMEM');
      }
      domid = candidate;
      this.rover = domid;
    }
    this.domains.set(domid, this.newDomain(domid, uuid, o.maxVcpus, grant));
    return domid;
  }

  async destroyDomain(domid: number): Promise<void> {
    const d = this.dom(domid, 'domctl destroydomain');
    if (domid === 0) fail('domctl destroydomain', 'EINVAL', 0, 'dom0 cannot destroy itself');
    d.dying = true;
    this.release(d);
  }

  async pause(domid: number): Promise<void> {
    const d = this.live(domid, 'domctl pausedomain');
    if (domid === 0) fail('domctl pausedomain', 'EINVAL', 0, 'dom0 cannot pause itself');
    if (d.controllerPauseCount >= 255) fail('domctl pausedomain', 'EOVERFLOW', domid);
    d.controllerPauseCount++;
  }

  async unpause(domid: number): Promise<void> {
    const d = this.live(domid, 'domctl unpausedomain');
    if (d.controllerPauseCount === 0) fail('domctl unpausedomain', 'EINVAL', domid, `domain ${domid} is not paused`);
    d.controllerPauseCount--;
  }

  async setMaxVcpus(domid: number, max: number): Promise<void> {
    const d = this.live(domid, 'domctl max_vcpus');
    if (domid === 0 || max !== d.maxVcpus) {
      fail('domctl max_vcpus', 'EINVAL', domid, `max_vcpus must equal createdomain's max_vcpus (${d.maxVcpus})`);
    }
    while (d.vcpus.length < max) d.vcpus.push({ context: undefined, online: false, cpuTimeNs: 0n });
  }

  async setMaxMem(domid: number, maxKib: bigint): Promise<void> {
    this.live(domid, 'domctl max_mem').maxPages = maxKib >> 2n;
  }

  async setTimeOffset(domid: number, seconds: bigint): Promise<void> {
    this.live(domid, 'domctl settimeoffset').timeOffset = seconds;
  }

  private allocate(d: SimDomain, what: string, order: number, count: number, place: (i: number, mfn: number) => void): number {
    const pages = 1 << order;
    if (order > 0 && !this.opts.superpages) return 0;
    let done = 0;
    for (let i = 0; i < count; i++) {
      if (BigInt(d.owned.size + pages) > d.maxPages) break; // Xen: over-allocation, the extent fails
      if (this.freePages() < BigInt(pages)) break;
      const first = this.nextMfn;
      this.nextMfn += pages;
      for (let p = 0; p < pages; p++) d.owned.add(first + p);
      place(i, first);
      done++;
    }
    void what;
    return done;
  }

  async populatePhysmap(domid: DomId, extentOrder: 0 | 9, gpfns: readonly Frame[]): Promise<Frame[]> {
    const what = 'memory_op populate_physmap';
    const d = this.live(domid, what);
    const pages = 1 << extentOrder;
    for (const g of gpfns) {
      if (!Number.isInteger(g) || g < 0 || g % pages !== 0) fail(what, 'EINVAL', domid, `gpfn ${g} is not aligned to an order-${extentOrder} extent`);
    }
    const out: Frame[] = [];
    const done = this.allocate(d, what, extentOrder, gpfns.length, (i, mfn) => {
      for (let p = 0; p < pages; p++) d.p2m.set(gpfns[i]! + p, mfn + p);
      out.push(mfn);
    });
    if (done < gpfns.length) {
      throw new HypervisorError('TXL_HV_ENOMEM', `populate_physmap on domain ${domid}: Xen gave ${done} of ${gpfns.length} order-${extentOrder} extents`, {
        errno: 'ENOMEM', details: { domid, order: extentOrder, requested: gpfns.length, done },
        hint: extentOrder > 0 ? 'Retry with order 0 (4 KiB pages).' : "Check the domain's max_mem and the host's free memory ('txl info').",
      });
    }
    return out;
  }

  async increaseReservation(domid: number, order: number, count: number): Promise<number[]> {
    const d = this.live(domid, 'memory_op increase_reservation');
    const out: number[] = [];
    this.allocate(d, 'increase_reservation', order, count, (_i, mfn) => out.push(mfn));
    return out;
  }

  async decreaseReservation(domid: number, order: number, frames: readonly number[]): Promise<number> {
    const d = this.live(domid, 'memory_op decrease_reservation');
    let done = 0;
    for (const f of frames) {
      // PV: the frames are MFNs the domain owns.
      const pages = Array.from({ length: 1 << order }, (_x, p) => f + p);
      if (!pages.every((m) => d.owned.has(m))) break;
      for (const m of pages) {
        d.owned.delete(m);
        this.memory.delete(m);
      }
      for (const [g, m] of d.p2m) if (pages.includes(m)) d.p2m.delete(g);
      done++;
    }
    return done;
  }

  async getVcpuContext(domid: number, vcpu: number): Promise<Uint8Array> {
    const d = this.live(domid, 'domctl getvcpucontext');
    const v = d.vcpus[vcpu];
    if (!v) return fail('domctl getvcpucontext', 'EINVAL', domid, `vcpu ${vcpu} does not exist (max_vcpus not called, or out of range)`);
    return v.context?.slice() ?? new Uint8Array(vcpu_guest_context.size);
  }

  /** credit2 with Xen's defaults (weight 256, cap 0), as a fresh domain has them. */
  async schedParams(domid: number): Promise<DomainSchedParams> {
    this.dom(domid, 'domctl scheduler_op');
    return { scheduler: 'credit2', weight: 256, cap: 0 };
  }

  async listVcpus(domid: number): Promise<VcpuInfo[]> {
    const d = this.dom(domid, 'domctl getvcpuinfo');
    const runnable = d.controllerPauseCount === 0 && d.shutdownCode === undefined;
    const all = Array.from({ length: this.opts.nrCpus }, (_x, i) => i);
    return d.vcpus.map((v, i) => ({
      vcpu: i, online: v.online,
      blocked: v.online && runnable && domid !== 0,
      running: v.online && runnable && domid === 0,
      cpuTimeNs: v.cpuTimeNs, cpu: i % this.opts.nrCpus, hardAffinity: all, softAffinity: all,
    }));
  }

  async evtchnAllocUnbound(domid: number, remoteDomid: number): Promise<number> {
    const d = this.live(domid, 'event_channel_op alloc_unbound');
    const port = d.nextPort++;
    d.ports.set(port, { remote: remoteDomid });
    return port;
  }

  async evtchnClose(port: number): Promise<void> {
    const d0 = this.dom(0, 'event_channel_op close');
    if (!d0.ports.delete(port)) fail(`event_channel_op close (port ${port})`, 'EINVAL', 0, `port ${port} is not open in dom0`);
  }

  async remoteShutdown(domid: number, reason: ShutdownReason): Promise<void> {
    this.live(domid, 'sched_op remote_shutdown');
    this.injectShutdown(domid, reason);
  }

  /** Links between dom0 ports and guest ports (or other dom0 ports): local port -> peer. */
  private readonly evtLinks = new Map<number, { domid: number; port: number }>();
  private readonly evtDevices = new Set<SimEventChannels>();

  async eventChannels(): Promise<EventChannelDevice> {
    const dev = new SimEventChannels(this);
    this.evtDevices.add(dev);
    return dev;
  }

  /** @internal used by SimEventChannels */
  evtBindUnbound(remoteDomid: number): number {
    const d0 = this.dom(0, 'evtchn bind_unbound_port');
    this.dom(remoteDomid, 'evtchn bind_unbound_port');
    const port = d0.nextPort++;
    d0.ports.set(port, { remote: remoteDomid });
    return port;
  }

  /** @internal used by SimEventChannels */
  evtBindInterdomain(remoteDomid: number, remotePort: number): number {
    const what = `evtchn bind_interdomain(${remoteDomid}, ${remotePort})`;
    const remote = this.dom(remoteDomid, what);
    const target = remote.ports.get(remotePort);
    if (!target || target.remote !== 0 || [...this.evtLinks.values()].some((l) => l.domid === remoteDomid && l.port === remotePort)) {
      return fail(what, 'EINVAL', remoteDomid, `port ${remotePort} of domain ${remoteDomid} is not an unbound port for dom0`);
    }
    const d0 = this.dom(0, what);
    const port = d0.nextPort++;
    d0.ports.set(port, { remote: remoteDomid });
    this.evtLinks.set(port, { domid: remoteDomid, port: remotePort });
    if (remoteDomid === 0) this.evtLinks.set(remotePort, { domid: 0, port });
    return port;
  }

  /** @internal used by SimEventChannels */
  evtUnbind(port: number): void {
    const d0 = this.dom(0, 'evtchn unbind');
    if (!d0.ports.delete(port)) fail(`evtchn unbind(${port})`, 'EINVAL', 0);
    const peer = this.evtLinks.get(port);
    this.evtLinks.delete(port);
    if (peer?.domid === 0) this.evtLinks.delete(peer.port);
  }

  /** @internal used by SimEventChannels: a notify from dom0 port `port`. */
  evtNotify(port: number): void {
    const peer = this.evtLinks.get(port);
    if (!peer) return fail(`evtchn notify(${port})`, 'EINVAL', 0, `port ${port} is not bound`);
    if (peer.domid === 0) {
      for (const dev of this.evtDevices) dev.deliver(peer.port);
      return;
    }
    const guest = this.dom(peer.domid, `evtchn notify(${port})`);
    if (guest.vcpus.length === 0) {
      // Seen in the lab: Xen 4.17's evtchn_send dereferences the guest's vcpu[0] and panics the host.
      throw new HypervisorError('TXL_HV_EINVAL', `evtchn notify(${port}): domain ${peer.domid} has no vCPUs yet; real Xen crashes on this send`, {
        details: { domid: peer.domid, port }, hint: 'Call max_vcpus (setMaxVcpus) before sending events to a new domain.',
      });
    }
    this.guestEvents.push({ domid: peer.domid, port: peer.port });
  }

  /** Events dom0 sent to guests, oldest first (tests read and clear this). */
  readonly guestEvents: { domid: number; port: number }[] = [];

  /** The guest `domid` notifies its port `guestPort` (as EVTCHNOP_send would); dom0's bound port fires. */
  guestNotify(domid: number, guestPort: number): void {
    for (const [local, peer] of this.evtLinks) {
      if (peer.domid === domid && peer.port === guestPort) {
        for (const dev of this.evtDevices) dev.deliver(local);
        return;
      }
    }
    fail(`guest ${domid} send on port ${guestPort}`, 'EINVAL', domid, 'the port is not bound by dom0');
  }

  /** @internal */
  evtClosed(dev: SimEventChannels): void {
    this.evtDevices.delete(dev);
  }

  async readConsole(clear = false): Promise<string> {
    const text = this.consoleRing;
    if (clear) this.consoleRing = '';
    return text;
  }

  private persistHook: ((state: SimulatorState) => Promise<void>) | undefined;

  /** Calls `save` with the state on every close() (used for state files). */
  persistOnClose(save: (state: SimulatorState) => Promise<void>): void {
    this.persistHook = save;
  }

  async close(): Promise<void> {
    await this.persistHook?.(this.toState());
  }

  // ---- domain builder ports ------------------------------------------------------------------

  async xenCapabilities(): Promise<string> {
    return (await this.xenVersion()).capabilities;
  }

  async setAddressSize(domid: DomId, bits: 64): Promise<void> {
    const d = this.live(domid, 'domctl set_address_size');
    if (bits !== 64 && bits !== 32) fail('domctl set_address_size', 'EINVAL', domid);
    if (d.p2m.size > 0 && d.addressSize !== bits) {
      fail('domctl set_address_size', 'EINVAL', domid, 'set the address size before populating memory');
    }
    d.addressSize = bits;
  }

  async sharedInfoFrame(domid: DomId): Promise<Frame> {
    return this.dom(domid, 'domctl getdomaininfo').sharedInfoMfn;
  }

  async hypercallInit(domid: DomId, gmfn: Frame): Promise<void> {
    const d = this.live(domid, 'domctl hypercall_init');
    if (!d.owned.has(gmfn)) fail('domctl hypercall_init', 'EINVAL', domid, `mfn ${gmfn} does not belong to domain ${domid}`);
    const page = this.page(gmfn);
    page.fill(0xcc);
    for (let i = 0; i < XEN_PAGE_SIZE / 32; i++) page.set(hypercallStub(i), i * 32);
  }

  /**
   * Validates the page-table tree under an L4 as Xen's get_page_type(PGT_l4_page_table) does for a
   * PV guest: every table and every mapped frame belongs to the domain, no superpages, no table
   * mapped writable by the guest, and no table still mapped by dom0 (foreign mappings).
   */
  private validateL4(d: SimDomain, l4: number, what: string): void {
    const tables = new Set<number>();
    const writable = new Set<number>();
    const walk = (mfn: number, level: number): void => {
      if (!d.owned.has(mfn)) fail(what, 'EINVAL', d.domid, `page-table frame ${mfn} (L${level}) does not belong to domain ${d.domid}`);
      if (tables.has(mfn)) return;
      tables.add(mfn);
      const page = this.page(mfn);
      const view = new DataView(page.buffer, page.byteOffset, XEN_PAGE_SIZE);
      for (let i = 0; i < 512; i++) {
        if (level === 4 && i >= XEN_L4_SLOTS.first && i <= XEN_L4_SLOTS.last) continue;
        const e = view.getBigUint64(i * 8, true);
        if (!(e & PTE_PRESENT)) continue;
        const frame = Number((e & PTE_FRAME) >> 12n);
        if (level > 1) {
          if (level <= 3 && e & PTE_PSE) fail(what, 'EINVAL', d.domid, `L${level} entry ${i} of frame ${mfn} is a superpage; PV guests map 4 KiB pages`);
          walk(frame, level - 1);
        } else {
          if (!d.owned.has(frame) && frame !== d.sharedInfoMfn) {
            fail(what, 'EINVAL', d.domid, `L1 entry ${i} of frame ${mfn} maps frame ${frame}, which domain ${d.domid} does not own`);
          }
          if (e & PTE_RW) writable.add(frame);
        }
      }
    };
    walk(l4, 4);
    for (const t of tables) {
      if (writable.has(t)) fail(what, 'EINVAL', d.domid, `page-table frame ${t} is mapped writable by the guest's own tables`);
      if ((this.mapped.get(t) ?? 0) > 0) fail(what, 'EINVAL', d.domid, `page-table frame ${t} is still mapped by dom0: unmap it before pinning`);
    }
  }

  async pinTopLevelTable(domid: DomId, mfn: Frame): Promise<void> {
    const what = `mmuext_op pin L4 table (mfn ${mfn})`;
    const d = this.live(domid, what);
    if (d.pinned.has(mfn)) fail(what, 'EINVAL', domid, `mfn ${mfn} is already pinned`);
    this.validateL4(d, mfn, what);
    d.pinned.add(mfn);
  }

  async setVcpuContext(domid: DomId, vcpu: number, context: Uint8Array): Promise<void> {
    const what = 'domctl setvcpucontext';
    const d = this.live(domid, what);
    if (context.length !== vcpu_guest_context.size) {
      throw new HypervisorError('TXL_HV_EINVAL', `vcpu context is ${context.length} bytes; struct vcpu_guest_context is ${vcpu_guest_context.size}`, { details: { domid, vcpu } });
    }
    const v = d.vcpus[vcpu];
    if (!v) return fail(what, 'EINVAL', domid, `vcpu ${vcpu} does not exist: call max_vcpus (${d.maxVcpus}) first`);
    const ctx = vcpu_guest_context.decode(context);
    const cr3 = Number(ctx.ctrlreg[3]! >> 12n);
    if (!d.pinned.has(cr3)) this.validateL4(d, cr3, what); // Xen types an unpinned cr3 as an L4 here
    v.context = context.slice();
    v.online = (ctx.flags & VGCF_ONLINE) !== 0n;
  }

  async mapFrames(domid: DomId, mfns: readonly Frame[]): Promise<GuestMapping> {
    const d = this.dom(domid, 'IOCTL_PRIVCMD_MMAPBATCH_V2');
    const failed = mfns.flatMap((m, index) => (this.ownerOf(m) === d ? [] : [{ index, errno: 'EINVAL' }]));
    if (failed.length) throw mapFailure(`mapping ${mfns.length} frames`, domid, 'EINVAL', failed);
    const bytes = new Uint8Array(mfns.length * XEN_PAGE_SIZE);
    mfns.forEach((m, i) => bytes.set(this.page(m), i * XEN_PAGE_SIZE));
    for (const m of mfns) this.mapped.set(m, (this.mapped.get(m) ?? 0) + 1);
    let live = true;
    return {
      bytes,
      unmap: async () => {
        if (!live) return;
        live = false;
        // A copy stands in for a shared mapping: write it back, then drop the references.
        mfns.forEach((m, i) => this.page(m).set(bytes.subarray(i * XEN_PAGE_SIZE, (i + 1) * XEN_PAGE_SIZE)));
        for (const m of mfns) this.mapped.set(m, (this.mapped.get(m) ?? 1) - 1);
        if (d.dying && this.domains.get(domid) === d) this.release(d);
      },
    };
  }

  async seedGrantTable(domid: DomId, entries: readonly GrantSeed[]): Promise<void> {
    const d = this.live(domid, 'grant table seeding');
    const page = this.page(d.grantFrameMfn);
    const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
    for (const e of entries) {
      if (e.backendDomid === domid) continue;
      if (!this.domains.has(e.backendDomid)) fail('grant table seeding', 'ESRCH', e.backendDomid);
      grant_entry_v1.write(view, e.ref * grant_entry_v1.size, { flags: 1, domid: e.backendDomid, frame: e.mfn });
    }
  }

  // ---- persistence ---------------------------------------------------------------------------

  /** The state as plain JSON (page contents and vCPU contexts are not kept). */
  toState(): SimulatorState {
    return {
      version: 1, options: this.opts, rover: this.rover, nextMfn: this.nextMfn, console: this.consoleRing,
      domains: [...this.domains.values()].map((d) => ({
        domid: d.domid, uuid: uuidFromBytes(d.uuid), maxVcpus: d.maxVcpus, grantVersion: d.grantVersion,
        vcpus: d.vcpus.map((v) => ({ online: v.online, hasContext: v.context !== undefined, cpuTimeNs: v.cpuTimeNs.toString() })),
        maxPages: d.maxPages.toString(), p2m: [...d.p2m], owned: [...d.owned], sharedInfoMfn: d.sharedInfoMfn,
        grantFrameMfn: d.grantFrameMfn, controllerPauseCount: d.controllerPauseCount, shutdownCode: d.shutdownCode ?? null,
        dying: d.dying, addressSize: d.addressSize ?? null, timeOffset: d.timeOffset.toString(), pinned: [...d.pinned],
        nextPort: d.nextPort, ports: [...d.ports].map(([p, x]) => [p, x.remote] as [number, number]), createdMs: d.createdMs,
      })),
    };
  }

  /** Rebuilds a simulator from toState() output. Throws TXL_HV_SIM_STATE when it is malformed. */
  static fromState(state: SimulatorState, now?: () => number): SimulatedHypervisor {
    const domains: SimulatorState['domains'] | undefined = state?.domains;
    if (state?.version !== 1 || typeof domains?.length !== 'number') {
      throw new HypervisorError('TXL_HV_SIM_STATE', 'simulator state is not a version 1 txl simulator state', {
        hint: 'Delete the state file to start from a fresh simulated host.',
      });
    }
    const sim = new SimulatedHypervisor({ ...state.options, ...(now ? { now } : {}) });
    sim.domains.clear();
    sim.rover = state.rover;
    sim.nextMfn = state.nextMfn;
    sim.consoleRing = state.console;
    for (const s of domains) {
      const d: SimDomain = {
        domid: s.domid, uuid: uuidToBytes(s.uuid), maxVcpus: s.maxVcpus, grantVersion: s.grantVersion,
        vcpus: s.vcpus.map((v) => ({ online: v.online, context: v.hasContext ? new Uint8Array(vcpu_guest_context.size) : undefined, cpuTimeNs: BigInt(v.cpuTimeNs) })),
        maxPages: BigInt(s.maxPages), p2m: new Map(s.p2m), owned: new Set(s.owned), sharedInfoMfn: s.sharedInfoMfn,
        grantFrameMfn: s.grantFrameMfn, controllerPauseCount: s.controllerPauseCount, shutdownCode: s.shutdownCode ?? undefined,
        dying: s.dying, addressSize: s.addressSize ?? undefined, timeOffset: BigInt(s.timeOffset), pinned: new Set(s.pinned),
        nextPort: s.nextPort, ports: new Map(s.ports.map(([p, r]) => [p, { remote: r }])), createdMs: s.createdMs,
      };
      sim.domains.set(d.domid, d);
    }
    return sim;
  }
}

/** The simulator's /dev/xen/evtchn: ports bound through it receive events from guests or other dom0 ports. */
class SimEventChannels implements EventChannelDevice {
  private readonly mine = new Set<number>();
  private readonly pending: number[] = [];
  private readonly waiters: ((port: number) => void)[] = [];
  private closed = false;

  constructor(private readonly sim: SimulatedHypervisor) {}

  private track(port: number): number {
    if (this.closed) throw new HypervisorError('TXL_HV_EINVAL', 'the event channel device is closed');
    this.mine.add(port);
    return port;
  }

  bindInterdomain(remoteDomid: number, remotePort: number): number {
    const port = this.track(this.sim.evtBindInterdomain(remoteDomid, remotePort));
    // Xen's evtchn_bind_interdomain conservatively sets the new local port pending.
    this.deliver(port);
    return port;
  }

  bindUnboundPort(remoteDomid: number): number {
    return this.track(this.sim.evtBindUnbound(remoteDomid));
  }

  unbind(port: number): void {
    if (!this.mine.delete(port)) fail(`evtchn unbind(${port})`, 'EINVAL', 0, `port ${port} is not bound by this device`);
    this.sim.evtUnbind(port);
  }

  notify(port: number): void {
    if (!this.mine.has(port)) fail(`evtchn notify(${port})`, 'EINVAL', 0, `port ${port} is not bound by this device`);
    this.sim.evtNotify(port);
  }

  /** @internal an event arrived on local `port`. */
  deliver(port: number): void {
    if (!this.mine.has(port)) return;
    const waiter = this.waiters.shift();
    if (waiter) queueMicrotask(() => waiter(port));
    else this.pending.push(port);
  }

  next(): Promise<number> {
    const queued = this.pending.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const port of this.mine) this.sim.evtUnbind(port);
    this.mine.clear();
    this.sim.evtClosed(this);
  }
}
