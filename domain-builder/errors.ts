// Errors of the domain builder: unreadable or unbootable kernels, layouts that do not fit, failed build steps.
import { TxlError } from '../common/errors.js';

/** Stable codes of DomainBuilderError. */
export type DomainBuilderErrorCode =
  /** The kernel file cannot be read (missing, a directory, permissions). */
  | 'TXL_KERNEL_READ'
  /** The file is empty. */
  | 'TXL_KERNEL_EMPTY'
  /** No loader recognised the image (neither ELF nor bzImage, or an unknown payload compression). */
  | 'TXL_KERNEL_UNRECOGNISED'
  /** The image is cut short or its headers point outside it. */
  | 'TXL_KERNEL_TRUNCATED'
  /** A header field holds a value that makes no sense (bad class, bad note, overlapping ranges). */
  | 'TXL_KERNEL_MALFORMED'
  /** The compressed payload does not decompress. */
  | 'TXL_KERNEL_CORRUPT_PAYLOAD'
  /** A valid kernel for another architecture or word size (arm64, i386, 32-bit PV). */
  | 'TXL_KERNEL_WRONG_ARCH'
  /** A valid x86_64 kernel that cannot run as a Xen PV guest (no Xen notes, PVH only, bad features). */
  | 'TXL_KERNEL_NOT_PV'
  /** The initrd cannot be read. */
  | 'TXL_INITRD_READ'
  /** Kernel, initrd and boot structures do not fit in the guest's memory. */
  | 'TXL_LAYOUT_NO_MEMORY'
  /** A configuration value the builder cannot honour (vcpus, memory, command line). */
  | 'TXL_BUILD_CONFIG'
  /** The hypervisor refused the guest type (capabilities lack xen-3.0-x86_64). */
  | 'TXL_BUILD_UNSUPPORTED'
  /** A port call failed during the build; `cause` holds the backend error. */
  | 'TXL_BUILD_STEP';

/** An error raised by the domain builder. */
export class DomainBuilderError extends TxlError<DomainBuilderErrorCode> {}

/** True if `error` is a DomainBuilderError (optionally with the given code). */
export function isDomainBuilderError(error: unknown, code?: DomainBuilderErrorCode): error is DomainBuilderError {
  return error instanceof DomainBuilderError && (code === undefined || error.code === code);
}
