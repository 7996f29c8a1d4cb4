// buildPvDomain: performs the x86_64 PV build of a planned layout through the ports, in libxenguest's phase order.
//
// Phases (tools/libs/guest/xg_dom_boot.c xc_dom_boot_image and xg_dom_x86.c, stable-4.17):
//   compat check (XENVER_capabilities) -> set_address_size(64) -> populate_physmap (2 MiB extents,
//   then 4 KiB) -> load kernel, initrd -> p2m list + page tables -> start_info -> hypercall_init ->
//   (no mapping of a page-table page left) -> pin L4 -> shared_info -> setvcpucontext(0) ->
//   grant entries 0 (console) and 1 (xenstore).
// The caller owns the domain: on failure it destroys it, which frees everything populated here.
import { encodeStartInfo, encodeVcpuContext, initSharedInfo, GRANT_ENTRY_V1 } from './abi/structs.js';
import { DomainBuilderError } from './errors.js';
import { bytesSource, type ImageSource } from './kernel/loader.js';
import type { KernelImage } from './kernel/pv-kernel.js';
import { fillPageTables } from './layout/page-tables.js';
import { PAGE_SIZE, planPvLayout, type PvLayout } from './layout/pv-layout.js';
import type { DomId, GrantSeed, PvBuildPorts } from './ports.js';

/** What buildPvDomain needs besides the kernel. */
export interface PvBuildConfig {
  readonly domid: DomId;
  /** Guest memory (`memory=`) in MiB. */
  readonly memoryMiB: number;
  readonly cmdline: string;
  /** The initrd: bytes, or a source read straight into the guest's pages (openImageSource). */
  readonly initrd?: Uint8Array | ImageSource | undefined;
  /** Guest-side event channel ports allocated for xenstore and console (EVTCHNOP_alloc_unbound). */
  readonly storeEvtchn: number;
  readonly consoleEvtchn: number;
  /** Backend domains of xenstore and console (0 = dom0). */
  readonly storeDomid?: DomId;
  readonly consoleDomid?: DomId;
}

/** What the toolstack needs after the build: the frames to publish in xenstore and to introduce. */
export interface PvBuildResult {
  readonly layout: PvLayout;
  readonly storeMfn: number;
  readonly consoleMfn: number;
  readonly sharedInfoMfn: number;
  /** Machine frame of the pinned L4. */
  readonly l4Mfn: number;
  /** Phases run, in order, for diagnostics ("how far did the build get"). */
  readonly steps: readonly string[];
  /** Milliseconds each phase took (same order as steps). */
  readonly stepMs: readonly number[];
}

/** The phases run so far and their durations. */
class Trace {
  readonly steps: string[] = [];
  readonly ms: number[] = [];
  private t = performance.now();
  begin(name: string): void {
    this.steps.push(name);
    this.t = performance.now();
  }
  end(): void {
    this.ms.push(Math.round(performance.now() - this.t));
  }
}

/** SUPERPAGE_BATCH_SIZE in meminit_pv: extents per populate_physmap call. */
const SUPERPAGE_BATCH = 512;
/** 4 KiB extents per call (libxenguest uses up to 1M; smaller keeps hypercall buffers small). */
const PAGE_BATCH = 65536;

/** Turns a failing port call into TXL_BUILD_STEP naming the phase, keeping the backend error as cause. */
async function step<T>(trace: Trace, name: string, run: () => Promise<T>): Promise<T> {
  trace.begin(name);
  try {
    const value = await run();
    trace.end();
    return value;
  } catch (error) {
    const steps = trace.steps;
    if (error instanceof DomainBuilderError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new DomainBuilderError('TXL_BUILD_STEP', `PV build failed at ${name}: ${message}`, { cause: error, details: { step: name, completed: steps.slice(0, -1) } });
  }
}

/** meminit_pv: populates pfns [0, totalPages) and returns the p2m (pfn -> mfn). */
export async function populateGuestMemory(ports: PvBuildPorts, domid: DomId, totalPages: number, trace = new Trace()): Promise<number[]> {
  const p2m = new Array<number>(totalPages);
  trace.begin('populatePhysmap');
  let pfn = 0;
  let superpages = Math.floor(totalPages / 512);
  let useSuper = true;
  while (useSuper && superpages > 0) {
    const count = Math.min(superpages, SUPERPAGE_BATCH);
    const gpfns = Array.from({ length: count }, (_, i) => pfn + i * 512);
    let mfns: number[];
    try {
      mfns = await ports.populatePhysmap(domid, 9, gpfns);
    } catch {
      useSuper = false; // no free 2 MiB extents: the rest in 4 KiB pages
      break;
    }
    if (mfns.length !== count) throw new DomainBuilderError('TXL_BUILD_STEP', `populate_physmap returned ${mfns.length} of ${count} superpage extents`, { details: { step: 'populatePhysmap' } });
    for (let j = 0; j < count; j++) for (let k = 0; k < 512; k++) p2m[pfn + j * 512 + k] = mfns[j]! + k;
    pfn += count * 512;
    superpages -= count;
  }
  while (pfn < totalPages) {
    const count = Math.min(totalPages - pfn, PAGE_BATCH);
    const gpfns = Array.from({ length: count }, (_, i) => pfn + i);
    let mfns: number[];
    try {
      mfns = await ports.populatePhysmap(domid, 0, gpfns);
    } catch (error) {
      throw new DomainBuilderError('TXL_BUILD_STEP', `PV build failed at populatePhysmap (pfns ${pfn}..${pfn + count - 1}): ${error instanceof Error ? error.message : String(error)}`, { cause: error, details: { step: 'populatePhysmap' } });
    }
    if (mfns.length !== count) throw new DomainBuilderError('TXL_BUILD_STEP', `populate_physmap returned ${mfns.length} of ${count} pages`, { details: { step: 'populatePhysmap' } });
    for (let j = 0; j < count; j++) p2m[pfn + j] = mfns[j]!;
    pfn += count;
  }
  trace.end();
  return p2m;
}

/** Maps the frames of pfns [pfn, pfn+pages), lets `write` fill the (zeroed) bytes, unmaps. */
async function writePages(ports: PvBuildPorts, domid: DomId, p2m: readonly number[], pfn: number, pages: number, write: (bytes: Uint8Array) => void): Promise<void> {
  const mapping = await ports.mapFrames(domid, p2m.slice(pfn, pfn + pages));
  try {
    mapping.bytes.fill(0);
    write(mapping.bytes);
  } finally {
    await mapping.unmap();
  }
}

/**
 * Builds an x86_64 PV guest in the (paused, vcpus and max_mem already set) domain `config.domid`.
 * The layout is planned first, so a kernel or initrd that does not fit fails before any hypercall.
 */
export async function buildPvDomain(kernel: KernelImage, config: PvBuildConfig, ports: PvBuildPorts): Promise<PvBuildResult> {
  const { domid } = config;
  if (!Number.isInteger(config.memoryMiB) || config.memoryMiB <= 0) {
    throw new DomainBuilderError('TXL_BUILD_CONFIG', `memory of ${config.memoryMiB} MiB is not a positive whole number of MiB`, { details: { memoryMiB: config.memoryMiB } });
  }
  const totalPages = config.memoryMiB * 256;
  const initrd = config.initrd && config.initrd.length > 0 ? (config.initrd instanceof Uint8Array ? bytesSource(config.initrd) : config.initrd) : undefined;
  const layout = planPvLayout(kernel, { totalPages, initrdLength: initrd?.length ?? 0 });
  const steps = new Trace();

  const caps = await step(steps, 'xenCapabilities', () => ports.xenCapabilities());
  if (!caps.split(/\s+/).includes(kernel.guestType)) {
    throw new DomainBuilderError('TXL_BUILD_UNSUPPORTED', `this hypervisor cannot run ${kernel.guestType} guests (capabilities: ${caps.trim() || 'none'})`, { details: { capabilities: caps } });
  }
  await step(steps, 'setAddressSize', () => ports.setAddressSize(domid, 64));
  const p2m = await populateGuestMemory(ports, domid, totalPages, steps);

  // Kernel: each PT_LOAD at (paddr - pstart) from the kernel segment's first byte; bss stays zero.
  await step(steps, 'load kernel', () => writePages(ports, domid, p2m, layout.kernel.pfn, layout.kernel.pages, (bytes) => {
    for (const seg of kernel.segments) bytes.set(seg.data, Number(seg.paddr - kernel.pstart));
  }));
  if (initrd && layout.initrd) {
    const seg = layout.initrd;
    // Only the tail past the initrd needs clearing: the rest is overwritten.
    await step(steps, 'load initrd', async () => {
      const mapping = await ports.mapFrames(domid, p2m.slice(seg.pfn, seg.pfn + seg.pages));
      try {
        mapping.bytes.fill(0, initrd.length);
        await initrd.readInto(mapping.bytes.subarray(0, initrd.length));
      } finally {
        await mapping.unmap();
      }
    });
  }

  const sharedInfoMfn = await step(steps, 'sharedInfoFrame', () => ports.sharedInfoFrame(domid));
  const storeMfn = p2m[layout.xenstorePfn]!;
  const consoleMfn = p2m[layout.consolePfn]!;

  // Page tables: mapping 0's segment, plus (with INIT_P2M) the p2m segment holding list and its tables.
  const pt = layout.pageTables;
  const p2mSeg = layout.p2m;
  await step(steps, 'write p2m list and page tables', async () => {
    const ptMap = await ports.mapFrames(domid, p2m.slice(pt.pfn, pt.pfn + pt.pages));
    const p2mMap = await ports.mapFrames(domid, p2m.slice(p2mSeg.pfn, p2mSeg.pfn + p2mSeg.pages)).catch(async (e: unknown) => { await ptMap.unmap(); throw e; });
    try {
      ptMap.bytes.fill(0);
      p2mMap.bytes.fill(0);
      const list = new DataView(p2mMap.bytes.buffer, p2mMap.bytes.byteOffset, layout.p2mSize * 8);
      for (let i = 0; i < layout.p2mSize; i++) {
        const mfn = p2m[i]!;
        list.setUint32(i * 8, mfn >>> 0, true);
        list.setUint32(i * 8 + 4, Math.floor(mfn / 0x1_0000_0000), true);
      }
      const table = (pfn: number): DataView => {
        const inPt = pfn >= pt.pfn && pfn < pt.pfn + pt.pages;
        const inP2m = pfn >= p2mSeg.pfn && pfn < p2mSeg.pfn + p2mSeg.pages;
        if (!inPt && !inP2m) throw new Error(`page table pfn ${pfn} outside its segments`);
        const bytes = inPt ? ptMap.bytes : p2mMap.bytes;
        const base = (inPt ? pfn - pt.pfn : pfn - p2mSeg.pfn) * PAGE_SIZE;
        return new DataView(bytes.buffer, bytes.byteOffset + base, PAGE_SIZE);
      };
      fillPageTables(layout, p2m, table);
    } finally {
      // bootlate_pv: drop every mapping of page-table pages before pinning.
      await ptMap.unmap();
      await p2mMap.unmap();
    }
  });

  await step(steps, 'write start_info, xenstore and console pages', async () => {
    await writePages(ports, domid, p2m, layout.startInfoPfn, 1, (bytes) => {
      encodeStartInfo({
        magic: kernel.guestType,
        nrPages: totalPages,
        sharedInfoMfn,
        flags: layout.startInfo.flags,
        storeMfn,
        storeEvtchn: config.storeEvtchn,
        consoleMfn,
        consoleEvtchn: config.consoleEvtchn,
        ptBase: layout.startInfo.ptBase,
        nrPtFrames: layout.startInfo.nrPtFrames,
        mfnList: layout.startInfo.mfnList,
        modStart: layout.startInfo.modStart,
        modLen: layout.startInfo.modLen,
        cmdline: config.cmdline,
        firstP2mPfn: layout.startInfo.firstP2mPfn,
        nrP2mFrames: layout.startInfo.nrP2mFrames,
      }, bytes);
    });
    await writePages(ports, domid, p2m, layout.xenstorePfn, 1, () => {});
    await writePages(ports, domid, p2m, layout.consolePfn, 1, () => {});
    await writePages(ports, domid, p2m, layout.bootstackPfn, 1, () => {});
  });

  if (layout.hypercallPfn !== undefined) {
    const gmfn = p2m[layout.hypercallPfn]!;
    await step(steps, 'hypercallInit', () => ports.hypercallInit(domid, gmfn));
  }
  const l4Mfn = p2m[pt.pfn]!;
  await step(steps, 'pinTopLevelTable', () => ports.pinTopLevelTable(domid, l4Mfn));
  await step(steps, 'init shared_info', async () => {
    const m = await ports.mapFrames(domid, [sharedInfoMfn]);
    try { initSharedInfo(m.bytes); } finally { await m.unmap(); }
  });
  await step(steps, 'setVcpuContext', () => ports.setVcpuContext(domid, 0, encodeVcpuContext({ ...layout.regs, cr3Mfn: l4Mfn })));

  const seeds: GrantSeed[] = [];
  const consoleDomid = config.consoleDomid ?? 0;
  const storeDomid = config.storeDomid ?? 0;
  if (consoleDomid !== domid) seeds.push({ ref: 0, backendDomid: consoleDomid, mfn: consoleMfn });
  if (storeDomid !== domid) seeds.push({ ref: 1, backendDomid: storeDomid, mfn: storeMfn });
  await step(steps, 'seedGrantTable', () => ports.seedGrantTable(domid, seeds));

  return { layout, storeMfn, consoleMfn, sharedInfoMfn, l4Mfn, steps: steps.steps, stepMs: steps.ms };
}

/** Size of one v1 grant entry, re-exported for backends that seed grant frames. */
export const GRANT_ENTRY_SIZE = GRANT_ENTRY_V1.SIZE;
