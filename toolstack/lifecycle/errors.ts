// Errors of the day-2 lifecycle operations (shutdown, reboot, rename, memory, vCPUs, sysrq, monitor).
import { TxlError } from '../../common/errors.js';

/** Stable codes of LifecycleError. */
export type LifecycleErrorCode =
  /** An argument xl would refuse too (memory size, vCPU count, sysrq letter, name). */
  | 'TXL_LC_ARGS'
  /** The guest did not acknowledge control/shutdown in time (no PV shutdown driver, or hung). */
  | 'TXL_LC_NO_ACK'
  /** A name is taken by another domain. */
  | 'TXL_LC_NAME_TAKEN'
  /** The request contradicts the domain's state (target above static-max, more vCPUs than it has...). */
  | 'TXL_LC_INVALID'
  /** A xenstore node the operation needs is missing or malformed (not a toolstack-created domain?). */
  | 'TXL_LC_XENSTORE'
  /** The xenstore connection in use cannot do this (the simulator's state-file store cannot write or watch). */
  | 'TXL_LC_STORE'
  /** Waiting for domains failed (the watch ended). */
  | 'TXL_LC_WAIT'
  /** The host monitor (daemon.ts) could not be reached or started, or refused a registration. */
  | 'TXL_LC_MONITOR';

/** An error raised by a lifecycle operation. */
export class LifecycleError extends TxlError<LifecycleErrorCode> {}
