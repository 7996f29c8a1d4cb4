// An in-memory implementation of the builder's ports, for tests: sparse guest frames, scrambled mfns, call log.
//
// MFNs are deliberately not equal to pfns (and not monotonic across extents) so that a pfn/mfn
// mix-up in the builder shows up. It checks what Xen checks at pin time: no page-table page may
// still be mapped.
import type { DomId, Frame, GrantSeed, GuestMapping, PvBuildPorts } from '../ports.js';

/** A recorded port call. */
export interface PortCall {
  readonly op: string;
  readonly args: readonly unknown[];
}

/** Options to make the fake fail like a real backend. */
export interface MemoryPortsOptions {
  readonly capabilities?: string;
  /** Fail populate_physmap of order 9 (no superpages), as on a fragmented host. */
  readonly noSuperpages?: boolean;
  /** Throw from this operation (by name) to test error paths. */
  readonly failAt?: string;
  /** Free machine memory in pages (default 2^21 = 8 GiB). */
  readonly freePages?: number;
}

/** In-memory guest for one or more domains. */
export class MemoryPorts implements PvBuildPorts {
  readonly calls: PortCall[] = [];
  /** mfn -> 4 KiB page contents. */
  readonly frames = new Map<Frame, Uint8Array>();
  /** mfn -> owning domain. */
  readonly owner = new Map<Frame, DomId>();
  readonly vcpuContexts = new Map<string, Uint8Array>();
  readonly grants = new Map<DomId, GrantSeed[]>();
  readonly pinned = new Map<DomId, Frame>();
  readonly hypercallPages = new Map<DomId, Frame>();
  readonly addressSize = new Map<DomId, number>();
  readonly sharedInfo = new Map<DomId, Frame>();
  /** Frames currently mapped (mfn -> count). */
  private readonly mapped = new Map<Frame, number>();
  private nextExtent = 0x40000;
  private allocated = 0;

  constructor(private readonly options: MemoryPortsOptions = {}) {}

  private record(op: string, ...args: unknown[]): void {
    this.calls.push({ op, args });
    if (this.options.failAt === op) throw new Error(`injected failure in ${op}`);
  }

  /** Contents of a frame (a zero page if never written). */
  frame(mfn: Frame): Uint8Array {
    let page = this.frames.get(mfn);
    if (!page) {
      page = new Uint8Array(4096);
      this.frames.set(mfn, page);
    }
    return page;
  }

  async xenCapabilities(): Promise<string> {
    this.record('xenCapabilities');
    return this.options.capabilities ?? 'xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64';
  }

  async setAddressSize(domid: DomId, bits: 64): Promise<void> {
    this.record('setAddressSize', domid, bits);
    this.addressSize.set(domid, bits);
  }

  async populatePhysmap(domid: DomId, extentOrder: 0 | 9, gpfns: readonly Frame[]): Promise<Frame[]> {
    this.record('populatePhysmap', domid, extentOrder, gpfns.length);
    if (extentOrder === 9 && this.options.noSuperpages) throw new Error('ENOMEM: no 2 MiB extents');
    const size = 1 << extentOrder;
    if (this.allocated + gpfns.length * size > (this.options.freePages ?? 1 << 21)) throw new Error('ENOMEM: out of host memory');
    const out: Frame[] = [];
    for (let i = 0; i < gpfns.length; i++) {
      // Extents come from alternating ends of a window so consecutive pfns are not consecutive mfns.
      const base = this.nextExtent;
      this.nextExtent += size + (extentOrder === 0 ? 1 : 512);
      for (let k = 0; k < size; k++) this.owner.set(base + k, domid);
      out.push(base);
    }
    this.allocated += gpfns.length * size;
    return out;
  }

  async mapFrames(domid: DomId, mfns: readonly Frame[]): Promise<GuestMapping> {
    this.record('mapFrames', domid, mfns.length);
    for (const mfn of mfns) {
      if (this.owner.get(mfn) !== domid && !(this.sharedInfo.get(domid) === mfn)) throw new Error(`EPERM: mfn ${mfn} is not owned by domain ${domid}`);
    }
    const bytes = new Uint8Array(mfns.length * 4096);
    mfns.forEach((mfn, i) => bytes.set(this.frame(mfn), i * 4096));
    for (const mfn of mfns) this.mapped.set(mfn, (this.mapped.get(mfn) ?? 0) + 1);
    let live = true;
    return {
      bytes,
      unmap: async () => {
        if (!live) return;
        live = false;
        mfns.forEach((mfn, i) => {
          this.frame(mfn).set(bytes.subarray(i * 4096, (i + 1) * 4096));
          const n = (this.mapped.get(mfn) ?? 1) - 1;
          if (n === 0) this.mapped.delete(mfn); else this.mapped.set(mfn, n);
        });
      },
    };
  }

  async sharedInfoFrame(domid: DomId): Promise<Frame> {
    this.record('sharedInfoFrame', domid);
    let mfn = this.sharedInfo.get(domid);
    if (mfn === undefined) {
      mfn = 0x1000 + domid;
      this.sharedInfo.set(domid, mfn);
    }
    return mfn;
  }

  async hypercallInit(domid: DomId, gmfn: Frame): Promise<void> {
    this.record('hypercallInit', domid, gmfn);
    if (this.owner.get(gmfn) !== domid) throw new Error(`EINVAL: hypercall page ${gmfn} not owned by ${domid}`);
    this.hypercallPages.set(domid, gmfn);
  }

  /** Number of frames still mapped (the builder must leave none). */
  mappedCount(): number {
    return this.mapped.size;
  }

  async pinTopLevelTable(domid: DomId, mfn: Frame): Promise<void> {
    this.record('pinTopLevelTable', domid, mfn);
    if (this.mapped.size > 0) throw new Error(`EINVAL: ${this.mapped.size} frames still mapped at pin time`);
    this.pinned.set(domid, mfn);
  }

  async setVcpuContext(domid: DomId, vcpu: number, context: Uint8Array): Promise<void> {
    this.record('setVcpuContext', domid, vcpu, context.length);
    if (!this.pinned.has(domid)) throw new Error('EINVAL: vcpu context set before the L4 was pinned');
    this.vcpuContexts.set(`${domid}/${vcpu}`, Uint8Array.from(context));
  }

  async seedGrantTable(domid: DomId, entries: readonly GrantSeed[]): Promise<void> {
    this.record('seedGrantTable', domid, entries.length);
    this.grants.set(domid, [...entries]);
  }
}
