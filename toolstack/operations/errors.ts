// Errors of the create/destroy operations: a failed step, with what was rolled back.
import { TxlError } from '../../common/errors.js';

/** Stable codes of OperationError. */
export type OperationErrorCode =
  /** The plan's input is unusable (missing kernel, zero memory, bad name). */
  | 'TXL_CREATE_CONFIG'
  /** A domain with this name already exists. */
  | 'TXL_CREATE_NAME_TAKEN'
  /** A device (disk, vif) could not be set up before unpausing; details.device names it. */
  | 'TXL_CREATE_DEVICE'
  /** A step failed; the half-built domain was destroyed and its xenstore nodes removed. */
  | 'TXL_CREATE_FAILED'
  /** A step failed and the rollback also failed: something may be left behind (details say what). */
  | 'TXL_CREATE_ROLLBACK_FAILED'
  /** A failure injected on purpose (TXL_INJECT_FAILURE, inject.ts); details.step and details.phase name it. */
  | 'TXL_CREATE_INJECTED'
  /** TXL_INJECT_FAILURE names no step of this plan, or is not <step>[:start|done]. */
  | 'TXL_CREATE_INJECT_SPEC'
  /** destroy removed the domain but not everything it had (details.leftovers). */
  | 'TXL_DESTROY_INCOMPLETE';

/** An error raised while planning or executing an operation. */
export class OperationError extends TxlError<OperationErrorCode> {}
