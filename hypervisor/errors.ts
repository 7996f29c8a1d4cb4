// Errors raised by the hypervisor bindings (privcmd backend and simulator share these codes).
import { TxlError, type TxlErrorOptions } from '../common/errors.js';

/** Stable codes of hypervisor errors. */
export type HypervisorErrorCode =
  /** /dev/xen/privcmd does not exist: not running in a Xen dom0. */
  | 'TXL_HV_NO_XEN'
  /** Permission denied opening a Xen device or issuing a hypercall (not root). */
  | 'TXL_HV_EPERM'
  /** The running Xen refused txl's ABI version (EACCES on domctl/sysctl). */
  | 'TXL_HV_ABI'
  /** The running Xen is a version txl has no layouts for. */
  | 'TXL_HV_UNSUPPORTED_VERSION'
  /** No domain with that id (or name). */
  | 'TXL_HV_NO_DOMAIN'
  /** A request Xen rejects as invalid (EINVAL): wrong order, bad argument. */
  | 'TXL_HV_EINVAL'
  /** Out of memory or over the domain's max_mem. */
  | 'TXL_HV_ENOMEM'
  /** The resource (domid...) exists already. */
  | 'TXL_HV_EEXIST'
  /** Any other failed hypercall or ioctl (errno in details). */
  | 'TXL_HV_HYPERCALL'
  /** The FFI layer (koffi, libc) could not be loaded. */
  | 'TXL_HV_FFI'
  /** A simulator state file is unreadable or invalid. */
  | 'TXL_HV_SIM_STATE';

/** Error raised by hypervisor operations; `errno` names the Xen/Linux error when there is one. */
export class HypervisorError extends TxlError<HypervisorErrorCode> {
  /** Symbolic errno ('EINVAL', 'ESRCH'...) when the failure came from Xen or the kernel. */
  readonly errno: string | undefined;

  constructor(code: HypervisorErrorCode, message: string, options: TxlErrorOptions & { errno?: string } = {}) {
    super(code, message, options);
    this.errno = options.errno;
  }
}

/** Linux errno numbers that Xen and privcmd return (x86_64; Xen's public/errno.h uses the same values). */
export const ERRNO: Readonly<Record<string, number>> = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, E2BIG: 7, EBADF: 9, EAGAIN: 11, ENOMEM: 12, EACCES: 13,
  EFAULT: 14, EBUSY: 16, EEXIST: 17, ENODEV: 19, EINVAL: 22, ENOSPC: 28, ERANGE: 34, ENOSYS: 38, ENOTTY: 25,
  ENODATA: 61, EOVERFLOW: 75, EOPNOTSUPP: 95, ENOBUFS: 105, ETIMEDOUT: 110,
};

/** Symbolic name of an errno number ('E22' when unknown). */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(ERRNO)) if (value === errno) return name;
  return `E${errno}`;
}

/**
 * Turns a failed operation's errno into the matching typed error.
 * `what` names the operation ("domctl pausedomain"), `domid` the domain when there is one.
 */
export function hypercallError(what: string, errno: number, context: { domid?: number; hint?: string; xen?: string } = {}): HypervisorError {
  const name = errnoName(errno);
  const details = { operation: what, errno: name, domid: context.domid };
  const dom = context.domid === undefined ? '' : ` on domain ${context.domid}`;
  switch (name) {
    case 'ESRCH':
      return new HypervisorError('TXL_HV_NO_DOMAIN', `${what}: domain ${context.domid ?? '?'} does not exist`, {
        errno: name, details, hint: context.hint ?? "List the domains with 'txl list'.",
      });
    case 'EPERM':
      return new HypervisorError('TXL_HV_EPERM', `${what}${dom}: permission denied (EPERM)`, {
        errno: name, details, hint: context.hint ?? 'Run txl as root in dom0 (sudo txl ...).',
      });
    case 'EACCES':
      return new HypervisorError('TXL_HV_ABI', `${what}: the running Xen${context.xen ? ` ${context.xen}` : ''} refused txl's interface version (EACCES)`, {
        errno: name, details,
        hint: context.hint ?? 'txl speaks the domctl/sysctl ABI of Xen 4.17 (domctl 0x15) and 4.20 (domctl 0x17); upgrade txl or run a supported Xen.',
      });
    case 'EINVAL':
      return new HypervisorError('TXL_HV_EINVAL', `${what}${dom}: Xen rejected the request as invalid (EINVAL)`, { errno: name, details, ...(context.hint ? { hint: context.hint } : {}) });
    case 'ENOMEM':
      return new HypervisorError('TXL_HV_ENOMEM', `${what}${dom}: out of memory (ENOMEM)`, {
        errno: name, details, hint: context.hint ?? "Check free memory with 'txl info' and the domain's max_mem.",
      });
    case 'EEXIST':
      return new HypervisorError('TXL_HV_EEXIST', `${what}${dom}: already exists (EEXIST)`, { errno: name, details, ...(context.hint ? { hint: context.hint } : {}) });
    default:
      return new HypervisorError('TXL_HV_HYPERCALL', `${what}${dom} failed: ${name}`, { errno: name, details, ...(context.hint ? { hint: context.hint } : {}) });
  }
}

/** The "no such domain" error the CLI shows for a name or id it cannot find. */
export function noSuchDomain(qualifier: string | number): HypervisorError {
  return new HypervisorError('TXL_HV_NO_DOMAIN', `domain '${qualifier}' does not exist`, {
    errno: 'ESRCH', details: { domain: String(qualifier) }, hint: "List the domains with 'txl list'.",
  });
}

/** A foreign mapping (MMAPBATCH_V2 / MMAP_RESOURCE) that failed; the same shape from both backends. */
export function mapFailure(what: string, domid: number, errno: string, failed: readonly { index: number; errno: string }[] = [], cause?: unknown): HypervisorError {
  return new HypervisorError(errno === 'EPERM' ? 'TXL_HV_EPERM' : 'TXL_HV_HYPERCALL', `${what} of domain ${domid} failed: ${errno}`, {
    errno,
    details: { domid, failedFrames: failed.length, firstFailed: failed[0] ? `index ${failed[0].index}: ${failed[0].errno}` : undefined },
    ...(cause === undefined ? {} : { cause }),
  });
}
