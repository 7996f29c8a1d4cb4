// Errors of the xenstore module: wire errnos from xenstored, and local protocol/limit/transport failures.
import { TxlError, type TxlErrorOptions } from '../common/errors.js';

/**
 * Errno names xenstored sends in XS_ERROR replies, in `xsd_errors[]` order
 * (mirrors xen/include/public/io/xs_wire.h, Xen 4.17).
 */
export const WIRE_ERRNOS = [
  'EINVAL', 'EACCES', 'EEXIST', 'EISDIR', 'ENOENT', 'ENOMEM', 'ENOSPC', 'EIO',
  'ENOTEMPTY', 'ENOSYS', 'EROFS', 'EBUSY', 'EAGAIN', 'EISCONN', 'E2BIG', 'EPERM',
] as const;

/** An errno name xenstored can send. */
export type WireErrno = (typeof WIRE_ERRNOS)[number];

/**
 * Errno names a XenstoreError can carry: the wire ones, plus failures found on this side
 * (EPROTO: malformed reply; ETIMEDOUT: no reply in time; ECONNRESET: connection lost/closed).
 */
export type XsErrno = WireErrno | 'EPROTO' | 'ETIMEDOUT' | 'ECONNRESET' | 'ENOTCONN';

/** Linux errno numbers of the names above (for exit statuses and messages). */
export const ERRNO_NUMBERS: Readonly<Record<XsErrno, number>> = {
  EINVAL: 22, EACCES: 13, EEXIST: 17, EISDIR: 21, ENOENT: 2, ENOMEM: 12, ENOSPC: 28, EIO: 5,
  ENOTEMPTY: 39, ENOSYS: 38, EROFS: 30, EBUSY: 16, EAGAIN: 11, EISCONN: 106, E2BIG: 7, EPERM: 1,
  EPROTO: 71, ETIMEDOUT: 110, ECONNRESET: 104, ENOTCONN: 107,
};

/** strerror() text of each name (glibc wording), as the xenstore-* tools print it. */
export const ERRNO_TEXT: Readonly<Record<XsErrno, string>> = {
  EINVAL: 'Invalid argument', EACCES: 'Permission denied', EEXIST: 'File exists', EISDIR: 'Is a directory',
  ENOENT: 'No such file or directory', ENOMEM: 'Cannot allocate memory', ENOSPC: 'No space left on device',
  EIO: 'Input/output error', ENOTEMPTY: 'Directory not empty', ENOSYS: 'Function not implemented',
  EROFS: 'Read-only file system', EBUSY: 'Device or resource busy', EAGAIN: 'Resource temporarily unavailable',
  EISCONN: 'Transport endpoint is already connected', E2BIG: 'Argument list too long', EPERM: 'Operation not permitted',
  EPROTO: 'Protocol error', ETIMEDOUT: 'Connection timed out', ECONNRESET: 'Connection reset by peer',
  ENOTCONN: 'Transport endpoint is not connected',
};

/**
 * Stable codes: `TXL_XS_<ERRNO>` for errors xenstored returned, plus
 * TXL_XS_PROTOCOL (malformed frame or reply), TXL_XS_TIMEOUT, TXL_XS_CLOSED (connection gone),
 * TXL_XS_LIMIT (request refused before sending: payload/path limits, bad characters),
 * TXL_XS_CONNECT (could not open the socket or device), TXL_XS_TX_RETRIES (EAGAIN too often).
 */
export type XenstoreErrorCode =
  | `TXL_XS_${WireErrno}`
  | 'TXL_XS_PROTOCOL'
  | 'TXL_XS_TIMEOUT'
  | 'TXL_XS_CLOSED'
  | 'TXL_XS_LIMIT'
  | 'TXL_XS_CONNECT'
  | 'TXL_XS_TX_RETRIES';

/** Any failure of a xenstore operation. `errno` is the errno name ('ENOENT', 'EACCES', ...). */
export class XenstoreError extends TxlError {
  /** Errno name: what xenstored answered, or the local cause (EPROTO, ETIMEDOUT, ECONNRESET, E2BIG, EINVAL...). */
  readonly errno: XsErrno;
  /** The request type name (READ, WRITE...) when the error belongs to one request. */
  readonly operation: string | undefined;
  /** The path the request named, if any. */
  readonly path: string | undefined;

  constructor(
    errno: XsErrno,
    message: string,
    options: TxlErrorOptions & { code?: XenstoreErrorCode; operation?: string; path?: string } = {},
  ) {
    const code = options.code ?? (isWireErrno(errno) ? (`TXL_XS_${errno}` as const) : 'TXL_XS_PROTOCOL');
    super(code, message, {
      ...options,
      details: { errno, ...(options.operation ? { operation: options.operation } : {}), ...(options.path !== undefined ? { path: options.path } : {}), ...options.details },
    });
    this.errno = errno;
    this.operation = options.operation;
    this.path = options.path;
  }
}

/** True when `name` is one of the errno names of xs_wire.h. */
export function isWireErrno(name: string): name is WireErrno {
  return (WIRE_ERRNOS as readonly string[]).includes(name);
}

/** True when `error` is a XenstoreError with the given errno name. */
export function isXsErrno(error: unknown, errno: XsErrno): error is XenstoreError {
  return error instanceof XenstoreError && error.errno === errno;
}
