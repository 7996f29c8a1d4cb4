// Public API of the PV domain builder: kernel loading, layout planning and the x86_64 PV build.
import { loadKernelElf, readImageFile } from './kernel/loader.js';
import { checkPvKernel, type KernelImage } from './kernel/pv-kernel.js';

export { DomainBuilderError, isDomainBuilderError, type DomainBuilderErrorCode } from './errors.js';
export type { PvBuildPorts, GuestMemoryPort, PhysmapPort, PvBootPort, GuestMapping, GrantSeed, DomId, Frame } from './ports.js';
export { bytesSource, KERNEL_LOADERS, loadKernelElf, openImageSource, readImageFile, type ImageSource, type KernelLoader, type LoadedElf } from './kernel/loader.js';
export { DECOMPRESSORS, decompressPayload, type Compression } from './kernel/decompress.js';
export { checkPvKernel, type KernelImage, type KernelSegment } from './kernel/pv-kernel.js';
export { readXenNotes, XEN_ELFNOTE, type XenNotes } from './kernel/xen-notes.js';
export { readnotes, type ReadnotesOutput } from './kernel/readnotes.js';

/** Parses kernel bytes (bzImage with any Linux compression, or ELF) and checks it can boot as an x86_64 PV guest. */
export async function parseKernel(bytes: Uint8Array, source = 'kernel'): Promise<KernelImage> {
  const loaded = await loadKernelElf(bytes, source);
  return checkPvKernel(loaded, source);
}

/** Reads and parses a kernel file (see parseKernel); errors name the path. */
export async function parseKernelFile(path: string): Promise<KernelImage> {
  return parseKernel(await readImageFile(path, 'kernel'), path);
}
export { planPvLayout, type PvLayout, type PvLayoutConfig, type PvSegment, type PvMapping, SIF_MOD_START_PFN } from './layout/pv-layout.js';
export { fillPageTables, walk, isPageTablePfn } from './layout/page-tables.js';
export { buildPvDomain, populateGuestMemory, type PvBuildConfig, type PvBuildResult } from './build.js';
export {
  encodeStartInfo, decodeStartInfo, encodeVcpuContext, decodeVcpuContext, initSharedInfo,
  START_INFO, VCPU_GUEST_CONTEXT, SHARED_INFO, GRANT_ENTRY_V1, GTF_PERMIT_ACCESS, type StartInfoFields, type PvVcpuState,
} from './abi/structs.js';
