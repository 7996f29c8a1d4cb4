// The narrow, consumer-side ports the PV domain builder needs from a hypervisor backend.
//
// The builder (domain-builder/) is pure TypeScript: it plans a layout, then performs the
// x86_64 PV build through these ports only. hypervisor/ implements them twice: over privcmd
// (real Xen) and in SimulatedHypervisor (tests). The phase order they serve is libxenguest's
// (tools/libs/guest/xg_dom_boot.c, xg_dom_x86.c at stable-4.17):
//   xenCapabilities -> setAddressSize -> populatePhysmap -> mapFrames (write kernel, initrd,
//   p2m, start_info, page tables) -> sharedInfoFrame -> hypercallInit -> (unmap every
//   page-table mapping) -> pinTopLevelTable -> setVcpuContext -> seedGrantTable.
//
// Frame numbers (pfn, mfn, gfn) are plain `number`s: every frame number Xen hands out is below
// 2^52 (52-bit physical addresses / 4 KiB pages = 2^40), so doubles hold them exactly, and a
// 4 GiB guest's p2m (1,048,576 entries) stays a cheap number[]. Guest virtual addresses are
// full 64-bit values and are `bigint` in the builder; no port takes one.
//
// Keep this file small and stable: the hypervisor engineer implements it.

/** A domain id (domid_t, u16 in xen/include/public/xen.h). */
export type DomId = number;

/** A frame number: pfn (guest pseudo-physical), mfn (machine) or gfn. Integer in [0, 2^52). */
export type Frame = number;

/** A foreign mapping of guest frames into this process. */
export interface GuestMapping {
  /** frames.length * 4096 bytes; byte i*4096 is the first byte of frames[i]. Invalid after unmap(). */
  readonly bytes: Uint8Array;
  /** Releases the mapping (munmap). Idempotent. */
  unmap(): Promise<void>;
}

/** Guest memory access by machine frame (privcmd IOCTL_PRIVCMD_MMAPBATCH_V2 on a PV guest). */
export interface GuestMemoryPort {
  /**
   * Maps the given machine frames of `domid`, in this order, into one contiguous buffer.
   * For a PV guest the frame numbers are MFNs (the builder translates pfn -> mfn through the
   * p2m it got from populatePhysmap). Throws if any frame cannot be mapped.
   */
  mapFrames(domid: DomId, mfns: readonly Frame[]): Promise<GuestMapping>;
}

/** Guest RAM allocation (memory_op XENMEM_populate_physmap, xen/include/public/memory.h). */
export interface PhysmapPort {
  /**
   * Populates one extent of 2^extentOrder pages at each guest pfn in `gpfns` (each pfn
   * aligned to the extent size) and returns the first MFN of each extent, same order and
   * length (the pages of one extent are machine-contiguous). Order 9 (2 MiB) may fail with
   * a typed error when the hypervisor has no free superpage; the builder then retries with
   * order 0. Partial success must be reported as an error after releasing nothing: the
   * caller destroys the domain on failure, which frees what was populated.
   */
  populatePhysmap(domid: DomId, extentOrder: 0 | 9, gpfns: readonly Frame[]): Promise<Frame[]>;
}

/** One grant entry to seed in a new domain's v1 grant table (xen/include/public/grant_table.h). */
export interface GrantSeed {
  /** Grant reference: 0 = GNTTAB_RESERVED_CONSOLE, 1 = GNTTAB_RESERVED_XENSTORE. */
  readonly ref: 0 | 1;
  /** The backend domain allowed to map it (console / xenstore domain, normally 0). */
  readonly backendDomid: DomId;
  /** The machine frame granted (console or store page). */
  readonly mfn: Frame;
}

/** Boot-time domain control the PV build needs (domctl, mmuext_op, xen_version). */
export interface PvBootPort {
  /** XENVER_capabilities, e.g. "xen-3.0-x86_64 hvm-3.0-x86_32 ..." (space separated). */
  xenCapabilities(): Promise<string>;
  /** XEN_DOMCTL_set_address_size (64 for an x86_64 PV guest). */
  setAddressSize(domid: DomId, bits: 64): Promise<void>;
  /** XEN_DOMCTL_getdomaininfo(domid).shared_info_frame: the MFN of the domain's shared_info page. */
  sharedInfoFrame(domid: DomId): Promise<Frame>;
  /** XEN_DOMCTL_hypercall_init: Xen writes the hypercall stubs into machine frame `gmfn`. */
  hypercallInit(domid: DomId, gmfn: Frame): Promise<void>;
  /**
   * mmuext_op MMUEXT_PIN_L4_TABLE(arg1.mfn = mfn) with foreigndom = domid. Xen validates the
   * whole tree: no page-table page may still be mapped writable anywhere (the builder unmaps
   * its own mappings first).
   */
  pinTopLevelTable(domid: DomId, mfn: Frame): Promise<void>;
  /**
   * XEN_DOMCTL_setvcpucontext for `vcpu`. `context` is an encoded x86_64
   * `struct vcpu_guest_context` (5168 bytes, xen/include/public/arch-x86/xen.h), produced by
   * domain-builder's encodeVcpuContext; the backend copies it into a hypercall buffer as is.
   */
  setVcpuContext(domid: DomId, vcpu: number, context: Uint8Array): Promise<void>;
  /**
   * Writes grant entries (v1 `grant_entry_v1_t`: flags=GTF_permit_access, domid, frame) into
   * grant frame 0 of `domid` (libxenguest xc_dom_gnttab_seed: XENMEM_acquire_resource of the
   * grant table, or GNTTABOP_setup_table + foreign map on older Xen).
   */
  seedGrantTable(domid: DomId, entries: readonly GrantSeed[]): Promise<void>;
}

/** Everything buildPvDomain needs from a hypervisor backend. */
export interface PvBuildPorts extends GuestMemoryPort, PhysmapPort, PvBootPort {}
