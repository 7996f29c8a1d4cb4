// The Hypervisor interface: what txl asks of Xen, implemented over privcmd and by SimulatedHypervisor.
import type { PvBuildPorts } from '../domain-builder/ports.js';
import type { ShutdownReason } from './abi/constants.js';

/** The running hypervisor's identity (xen_version sub-ops) and the ABI txl chose for it. */
export interface XenVersionInfo {
  readonly major: number;
  readonly minor: number;
  /** XENVER_extraversion, e.g. ".7" or "-rc". */
  readonly extra: string;
  /** Which layout table txl uses: '4.17' or '4.20'. */
  readonly abi: '4.17' | '4.20';
  /** XENVER_capabilities, e.g. "xen-3.0-x86_64 hvm-3.0-x86_32 ...". */
  readonly capabilities: string;
  readonly changeset: string;
  readonly commandline: string;
  readonly compiler: string;
  readonly compileBy: string;
  readonly compileDomain: string;
  readonly compileDate: string;
  readonly pagesize: number;
  /** XENVER_platform_parameters.virt_start. */
  readonly virtStart: bigint;
  /** XENVER_build_id as lowercase hex ('' when Xen has none). */
  readonly buildId: string;
}

/** sysctl physinfo, decoded. Page counts are 4 KiB pages. */
export interface PhysInfo {
  readonly threadsPerCore: number;
  readonly coresPerSocket: number;
  readonly nrCpus: number;
  readonly maxCpuId: number;
  readonly nrNodes: number;
  readonly maxNodeId: number;
  readonly cpuKhz: number;
  /** Raw XEN_SYSCTL_PHYSCAP_* bits. */
  readonly capabilities: number;
  readonly totalPages: bigint;
  readonly freePages: bigint;
  readonly scrubPages: bigint;
  readonly outstandingPages: bigint;
  readonly maxMfn: bigint;
  readonly hwCap: readonly number[];
}

/** Host facts `xl info` prints besides physinfo and version. */
export interface HostExtras {
  /** Scheduler name of the default cpupool ('credit', 'credit2', ...). */
  readonly scheduler: string;
  /** Number of CPUs in no cpupool. */
  readonly freeCpus: number;
  readonly sharingFreedPages: bigint;
  readonly sharingUsedFrames: bigint;
}

/**
 * A domain's scheduler parameters as libxl_domain_sched_params_get reports them: the scheduler of the
 * host's default cpupool, and weight/cap for credit and credit2 (other schedulers: the name only).
 */
export interface DomainSchedParams {
  readonly scheduler: string;
  readonly weight?: number;
  readonly cap?: number;
}

/** One domain as Xen reports it (getdomaininfo / getdomaininfolist). */
export interface DomainInfo {
  readonly domid: number;
  /** Raw XEN_DOMINF_* flags. */
  readonly flags: number;
  readonly dying: boolean;
  readonly hvm: boolean;
  readonly shutdown: boolean;
  readonly paused: boolean;
  readonly blocked: boolean;
  readonly running: boolean;
  /** SHUTDOWN_* code when `shutdown` is set ((flags >> 16) & 0xff). */
  readonly shutdownCode: number | undefined;
  readonly totPages: bigint;
  readonly maxPages: bigint;
  readonly outstandingPages: bigint;
  readonly sharedPages: bigint;
  readonly pagedPages: bigint;
  /** MFN of the domain's shared_info page (PV). */
  readonly sharedInfoFrame: bigint;
  /** Total CPU time in nanoseconds. */
  readonly cpuTimeNs: bigint;
  readonly onlineVcpus: number;
  /** Highest vCPU id, or 0xffffffff when the domain has no vCPUs yet. */
  readonly maxVcpuId: number;
  readonly ssidref: number;
  /** xen_domain_handle_t as a UUID string. */
  readonly uuid: string;
  readonly cpupool: number;
  readonly gpaddrBits: number;
}

/** Options of XEN_DOMCTL_createdomain for a PV guest. */
export interface CreateDomainOptions {
  /** UUID written as the domain handle (default all zero). */
  readonly uuid?: string;
  readonly maxVcpus: number;
  /** Default 1023 (libxl's). */
  readonly maxEvtchnPort?: number;
  /** Default -1: the hypervisor's default. */
  readonly maxGrantFrames?: number;
  readonly maxMaptrackFrames?: number;
  /** Default 1 (a PV guest's table is v1); Xen rejects 0. */
  readonly maxGrantVersion?: 1 | 2;
  /** XEN_DOMCTL_CDF_* (0 for PV). */
  readonly flags?: number;
  readonly ssidref?: number;
  /** Ask for this domid instead of letting Xen choose. */
  readonly domid?: number;
}

/** One vCPU of a domain (getvcpuinfo + hard/soft affinity). */
export interface VcpuInfo {
  readonly vcpu: number;
  readonly online: boolean;
  readonly blocked: boolean;
  readonly running: boolean;
  readonly cpuTimeNs: bigint;
  /** Physical CPU it runs on (meaningful when online). */
  readonly cpu: number;
  /** CPUs it may run on (hard affinity), as CPU numbers. */
  readonly hardAffinity: readonly number[];
  /** Soft affinity, as CPU numbers. */
  readonly softAffinity: readonly number[];
}

/**
 * dom0's event channel device (/dev/xen/evtchn): ports bound here are dom0's local ports.
 * `next()` waits on the event loop (no thread) for the next port that fires.
 */
export interface EventChannelDevice {
  /** Binds a local port to `remotePort` of `remoteDomid` (e.g. a guest's alloc_unbound port). */
  bindInterdomain(remoteDomid: number, remotePort: number): number;
  /** A new local port that `remoteDomid` may bind to. */
  bindUnboundPort(remoteDomid: number): number;
  unbind(port: number): void;
  /** Sends an event through local `port` to its peer. */
  notify(port: number): void;
  /** Resolves with the next local port that receives an event (already unmasked). */
  next(): Promise<number>;
  close(): Promise<void>;
}

/** A guest-initiated or toolstack-requested shutdown reason. */
export type { ShutdownReason };

/**
 * What txl needs from Xen. Both backends throw HypervisorError with the same codes:
 * TXL_HV_NO_DOMAIN (ESRCH) for a missing domid, TXL_HV_EINVAL for out-of-order requests, etc.
 * It also implements the domain builder's ports (domain-builder/ports.ts).
 */
export interface Hypervisor extends PvBuildPorts {
  /** 'privcmd' (real Xen) or 'simulator'. */
  readonly backend: 'privcmd' | 'simulator';
  xenVersion(): Promise<XenVersionInfo>;
  physinfo(): Promise<PhysInfo>;
  hostExtras(): Promise<HostExtras>;
  /** All domains, ascending domid (sysctl getdomaininfolist). */
  listDomains(): Promise<DomainInfo[]>;
  /** One domain; throws TXL_HV_NO_DOMAIN when it does not exist (4.17's next-domain quirk handled). */
  getDomainInfo(domid: number): Promise<DomainInfo>;
  /** Like getDomainInfo, but undefined when the domain does not exist. */
  findDomain(domid: number): Promise<DomainInfo | undefined>;
  /** XEN_DOMCTL_createdomain; the domain starts paused with no vCPUs and max_pages 0. Returns its domid. */
  createDomain(options: CreateDomainOptions): Promise<number>;
  destroyDomain(domid: number): Promise<void>;
  pause(domid: number): Promise<void>;
  unpause(domid: number): Promise<void>;
  /** XEN_DOMCTL_max_vcpus: creates the vCPUs; must equal createdomain's maxVcpus. */
  setMaxVcpus(domid: number, max: number): Promise<void>;
  /** XEN_DOMCTL_max_mem in KiB. */
  setMaxMem(domid: number, maxKib: bigint): Promise<void>;
  setTimeOffset(domid: number, seconds: bigint): Promise<void>;
  /** XENMEM_increase_reservation: `count` extents of 2^order pages; returns their MFNs. */
  increaseReservation(domid: number, order: number, count: number): Promise<number[]>;
  /** XENMEM_decrease_reservation of the given frames (PV: MFNs). Returns how many were released. */
  decreaseReservation(domid: number, order: number, frames: readonly number[]): Promise<number>;
  /** XEN_DOMCTL_getvcpucontext: the encoded vcpu_guest_context (5168 bytes). */
  getVcpuContext(domid: number, vcpu: number): Promise<Uint8Array>;
  /** XEN_DOMCTL_scheduler_op getinfo (credit, credit2): the domain's weight and cap. */
  schedParams(domid: number): Promise<DomainSchedParams>;
  /** vCPU states and affinities of a domain (vcpu 0..maxVcpuId). */
  listVcpus(domid: number): Promise<VcpuInfo[]>;
  /** EVTCHNOP_alloc_unbound in `domid` for `remoteDomid`; returns the port (in domid's space). */
  evtchnAllocUnbound(domid: number, remoteDomid: number): Promise<number>;
  /** EVTCHNOP_close of a port of the calling domain (dom0). */
  evtchnClose(port: number): Promise<void>;
  /** sched_op SCHEDOP_remote_shutdown: asks Xen to mark the domain shut down with `reason`. */
  remoteShutdown(domid: number, reason: ShutdownReason): Promise<void>;
  /** Opens dom0's event channel device (one per caller; close it when done). */
  eventChannels(): Promise<EventChannelDevice>;
  /** sysctl readconsole: the whole hypervisor console ring (optionally clearing it), like `xl dmesg`. */
  readConsole(clear?: boolean): Promise<string>;
  /** Releases devices and mappings. Idempotent. */
  close(): Promise<void>;
}

/** Formats 16 handle bytes as a UUID string. */
export function uuidFromBytes(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex').padEnd(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Parses a UUID string into 16 handle bytes (throws RangeError when malformed). */
export function uuidToBytes(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new RangeError(`'${uuid}' is not a UUID (expected 8-4-4-4-12 hex digits)`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Decodes XEN_DOMINF_* flags into DomainInfo's booleans (domctl.h). */
export function decodeDomainFlags(flags: number): Pick<DomainInfo, 'dying' | 'hvm' | 'shutdown' | 'paused' | 'blocked' | 'running' | 'shutdownCode'> {
  const shutdown = (flags & (1 << 2)) !== 0;
  return {
    dying: (flags & (1 << 0)) !== 0,
    hvm: (flags & (1 << 1)) !== 0,
    shutdown,
    paused: (flags & (1 << 3)) !== 0,
    blocked: (flags & (1 << 4)) !== 0,
    running: (flags & (1 << 5)) !== 0,
    shutdownCode: shutdown ? (flags >>> 16) & 0xff : undefined,
  };
}

/**
 * XEN_DOMCTL_getdomaininfo before Xen 4.18 returns the first existing domain whose id is >= the
 * one asked for. A reply for another domain therefore means "no such domain".
 */
export function matchRequestedDomain<T extends { domid: number }>(requested: number, returned: T | undefined): T | undefined {
  return returned !== undefined && returned.domid === requested ? returned : undefined;
}
