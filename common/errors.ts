// The one error base every txl module extends: a stable code, the offending values, a hint.
//
// Library code throws these and never prints. The CLI (toolstack/cli/run.ts) is the only place
// that turns them into a message and an exit status. Each module declares its own subclass and
// code union in its own errors.ts (xenstore/errors.ts, domain-builder/errors.ts, ...).

/** Values that explain an error: file, line, field, errno... Plain JSON-able data. */
export type ErrorDetails = Readonly<Record<string, string | number | boolean | bigint | null | undefined | readonly string[]>>;

export interface TxlErrorOptions {
  /** Values involved, shown with `-v` and in `--json` error output. */
  readonly details?: ErrorDetails;
  /** What the user can do about it; printed under the message. */
  readonly hint?: string;
  /** The lower-level error this one explains. */
  readonly cause?: unknown;
  /** Process exit status the CLI should use (default 1). */
  readonly exitCode?: number;
}

/**
 * Base class of every error txl throws on purpose.
 * `code` is stable (scripts may match on it); `message` is for people. A module's subclass narrows the
 * code to its own union: `class DeviceError extends TxlError<DeviceErrorCode> {}`.
 */
export class TxlError<Code extends string = string> extends Error {
  readonly code: Code;
  readonly details: ErrorDetails;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(code: Code, message: string, options: TxlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** True for any error raised by txl on purpose (as opposed to a bug). */
export function isTxlError(error: unknown): error is TxlError {
  return error instanceof TxlError;
}

/** Message of an unknown thrown value, for wrapping foreign errors. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
