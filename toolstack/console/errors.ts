// Errors of the console client (txl console, txl create -c).
import { TxlError } from '../../common/errors.js';

/** Stable codes of ConsoleError. */
export type ConsoleErrorCode =
  /** Domain 0 has no console to attach to (xenconsole refuses it too). */
  | 'TXL_CONSOLE_DOM0'
  /** The console number or type is not one xenconsole accepts. */
  | 'TXL_CONSOLE_ARGS'
  /** No tty appeared in xenstore in time (xenconsoled not running, or the domain has no such console). */
  | 'TXL_CONSOLE_NO_TTY'
  /** The tty named in xenstore could not be opened. */
  | 'TXL_CONSOLE_OPEN'
  /** The xenstore connection in use cannot watch (e.g. the simulator's state-file store). */
  | 'TXL_CONSOLE_STORE';

/** An error raised while attaching to a guest console. */
export class ConsoleError extends TxlError<ConsoleErrorCode> {}
