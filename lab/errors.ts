// Errors of the Xen lab (lab/): building the dom0 image, booting QEMU, running commands in dom0.
import { TxlError } from '../common/errors.js';

/** Stable codes of lab failures. */
export type LabErrorCode =
  /** A tool the lab needs (qemu-system-x86_64, mmdebstrap...) is missing on the host. */
  | 'TXL_LAB_MISSING_TOOL'
  /** Building the dom0 image failed (lab/dom0/build.sh). */
  | 'TXL_LAB_BUILD'
  /** QEMU could not start, or exited before or while the lab was in use. */
  | 'TXL_LAB_QEMU'
  /** dom0 did not answer on the control channel in time. */
  | 'TXL_LAB_BOOT_TIMEOUT'
  /** A command ran past its time limit and was killed. */
  | 'TXL_LAB_TIMEOUT'
  /** Xen or dom0 crashed (the crash lines are in the message). */
  | 'TXL_LAB_CRASH'
  /** The lab was shut down while a call was pending, or used after shutdown. */
  | 'TXL_LAB_SHUTDOWN'
  /** A bad argument (unknown Xen version, --add path missing...). */
  | 'TXL_LAB_USAGE'
  /** The control channel broke or spoke nonsense. */
  | 'TXL_LAB_PROTOCOL';

/** Any failure of the lab. */
export class LabError extends TxlError<LabErrorCode> {}
