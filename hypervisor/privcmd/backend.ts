// The privcmd Hypervisor: typed hypercalls on a real Xen dom0, plus the domain builder's ports.
import type { DomId, Frame, GrantSeed, GuestMapping } from '../../domain-builder/ports.js';
import {
  GTF_permit_access, XENMEM_RESOURCE_GRANT_TABLE, XENMEM_RESOURCE_GRANT_TABLE_ID_SHARED, type ShutdownReason,
} from '../abi/constants.js';
import { grant_entry_v1 } from '../abi/structs.js';
import { errnoName, mapFailure, noSuchDomain } from '../errors.js';
import type {
  CreateDomainOptions, DomainInfo, DomainSchedParams, EventChannelDevice, HostExtras, Hypervisor, PhysInfo, VcpuInfo, XenVersionInfo,
} from '../hypervisor.js';
import { PrivcmdDevice, PrivcmdError, findPrivcmd, type PrivcmdMapping } from './device.js';
import { loadFfi } from './ffi.js';
import { XenCalls } from './xen-calls.js';

function mappingError(error: unknown, domid: number, what: string): never {
  if (error instanceof PrivcmdError) {
    const failed = (error.frameErrors ?? []).flatMap((e, index) => (e === 0 ? [] : [{ index, errno: errnoName(e) }]));
    throw mapFailure(what, domid, errnoName(error.errno), failed, error);
  }
  throw error;
}

/** Hypervisor over /dev/xen/privcmd. Open it with openPrivcmdHypervisor(). */
export class PrivcmdHypervisor implements Hypervisor {
  readonly backend = 'privcmd' as const;
  private closed = false;
  private nrCpus: number | undefined;

  constructor(
    /** The typed hypercalls (exposed for benchmarks and diagnostics). */
    readonly calls: XenCalls,
  ) {}

  async xenVersion(): Promise<XenVersionInfo> { return this.calls.versionInfo(); }
  async physinfo(): Promise<PhysInfo> { return this.calls.physinfo(); }
  async hostExtras(): Promise<HostExtras> {
    const p = this.calls.physinfo();
    return this.calls.hostExtras(p.maxCpuId + 1);
  }
  async listDomains(): Promise<DomainInfo[]> { return this.calls.listDomains(); }
  async findDomain(domid: number): Promise<DomainInfo | undefined> { return this.calls.getDomainInfo(domid); }
  async getDomainInfo(domid: number): Promise<DomainInfo> {
    const info = this.calls.getDomainInfo(domid);
    if (!info) throw noSuchDomain(domid);
    return info;
  }
  async createDomain(options: CreateDomainOptions): Promise<number> { return this.calls.createDomain(options); }
  async destroyDomain(domid: number): Promise<void> { this.calls.destroyDomain(domid); }
  async pause(domid: number): Promise<void> { this.calls.pause(domid); }
  async unpause(domid: number): Promise<void> { this.calls.unpause(domid); }
  async setMaxVcpus(domid: number, max: number): Promise<void> { this.calls.setMaxVcpus(domid, max); }
  async setMaxMem(domid: number, maxKib: bigint): Promise<void> { this.calls.setMaxMem(domid, maxKib); }
  async setTimeOffset(domid: number, seconds: bigint): Promise<void> { this.calls.setTimeOffset(domid, seconds); }
  async increaseReservation(domid: number, order: number, count: number): Promise<number[]> { return this.calls.increaseReservation(domid, order, count); }
  async decreaseReservation(domid: number, order: number, frames: readonly number[]): Promise<number> { return this.calls.decreaseReservation(domid, order, frames); }
  async getVcpuContext(domid: number, vcpu: number): Promise<Uint8Array> { return this.calls.getVcpuContext(domid, vcpu); }
  async schedParams(domid: number): Promise<DomainSchedParams> { return this.calls.schedParams(domid); }
  async listVcpus(domid: number): Promise<VcpuInfo[]> {
    const info = await this.getDomainInfo(domid);
    if (info.maxVcpuId === 0xffffffff) return [];
    this.nrCpus ??= this.calls.physinfo().maxCpuId + 1;
    const out: VcpuInfo[] = [];
    for (let v = 0; v <= info.maxVcpuId; v++) out.push(this.calls.vcpuInfo(domid, v, this.nrCpus));
    return out;
  }
  async evtchnAllocUnbound(domid: number, remoteDomid: number): Promise<number> { return this.calls.evtchnAllocUnbound(domid, remoteDomid); }
  async evtchnClose(port: number): Promise<void> { this.calls.evtchnClose(port); }
  async remoteShutdown(domid: number, reason: ShutdownReason): Promise<void> { this.calls.remoteShutdown(domid, reason); }
  async readConsole(clear = false): Promise<string> { return this.calls.readConsole(clear); }
  async eventChannels(): Promise<EventChannelDevice> {
    const { PrivcmdEventChannels } = await import('./evtchn.js');
    return PrivcmdEventChannels.open();
  }

  // ---- domain builder ports ----------------------------------------------------------------

  async xenCapabilities(): Promise<string> { return this.calls.capabilities(); }
  async setAddressSize(domid: DomId, bits: 64): Promise<void> { this.calls.setAddressSize(domid, bits); }
  async sharedInfoFrame(domid: DomId): Promise<Frame> { return Number((await this.getDomainInfo(domid)).sharedInfoFrame); }
  async hypercallInit(domid: DomId, gmfn: Frame): Promise<void> { this.calls.hypercallInit(domid, gmfn); }
  async pinTopLevelTable(domid: DomId, mfn: Frame): Promise<void> { this.calls.pinTable(domid, 4, mfn); }
  async setVcpuContext(domid: DomId, vcpu: number, context: Uint8Array): Promise<void> { this.calls.setVcpuContext(domid, vcpu, context); }
  async populatePhysmap(domid: DomId, extentOrder: 0 | 9, gpfns: readonly Frame[]): Promise<Frame[]> {
    return this.calls.populatePhysmap(domid, extentOrder, gpfns);
  }

  async mapFrames(domid: DomId, mfns: readonly Frame[]): Promise<GuestMapping> {
    let m: PrivcmdMapping;
    try {
      m = this.calls.device.mapForeign(domid, mfns);
    } catch (error) {
      return mappingError(error, domid, `mapping ${mfns.length} frames`);
    }
    return { bytes: m.bytes, unmap: async () => m.unmap() };
  }

  /**
   * Maps grant frame 0 of `domid` (MMAP_RESOURCE of the grant table; on kernels or Xens without it,
   * GNTTABOP_setup_table + a foreign map of the returned frame) and writes v1 entries.
   */
  async seedGrantTable(domid: DomId, entries: readonly GrantSeed[]): Promise<void> {
    let m: PrivcmdMapping;
    try {
      m = this.calls.device.mapResource(domid, XENMEM_RESOURCE_GRANT_TABLE, XENMEM_RESOURCE_GRANT_TABLE_ID_SHARED, 0, 1);
    } catch (error) {
      const name = error instanceof PrivcmdError ? errnoName(error.errno) : '';
      if (name !== 'ENOTTY' && name !== 'EOPNOTSUPP') return mappingError(error, domid, 'mapping grant frame 0');
      const [frame] = this.calls.gnttabSetupTable(domid, 1);
      try {
        m = this.calls.device.mapForeign(domid, [frame!]);
      } catch (inner) {
        return mappingError(inner, domid, 'mapping grant frame 0');
      }
    }
    try {
      const view = new DataView(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
      for (const e of entries) {
        if (e.backendDomid === domid) continue; // xc_dom_gnttab_seed skips self-grants
        grant_entry_v1.write(view, e.ref * grant_entry_v1.size, { flags: GTF_permit_access, domid: e.backendDomid, frame: e.mfn });
      }
    } finally {
      m.unmap();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.calls.device.close();
  }
}

/**
 * Opens /dev/xen/privcmd, probes the running Xen and returns the privcmd backend.
 * Errors: TXL_HV_NO_XEN (no privcmd: not a dom0), TXL_HV_EPERM (not root),
 * TXL_HV_UNSUPPORTED_VERSION (a Xen other than 4.17/4.20), TXL_HV_FFI (koffi missing).
 */
export async function openPrivcmdHypervisor(): Promise<PrivcmdHypervisor> {
  const path = findPrivcmd(); // before loading koffi: a clear error on machines without Xen
  const ffi = await loadFfi();
  const device = PrivcmdDevice.open(ffi, path);
  try {
    return new PrivcmdHypervisor(XenCalls.probe(device));
  } catch (error) {
    device.close();
    throw error;
  }
}
