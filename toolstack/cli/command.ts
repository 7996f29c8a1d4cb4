// The shape of one txl subcommand: declared once, turned into a yargs CommandModule by main.ts.
import type { Argv, ArgumentsCamelCase } from 'yargs';

/** Options every command accepts. */
export interface GlobalArgs {
  /** Machine-readable output. */
  readonly json: boolean;
  /** Detail level: -v, -vv. Also enables stack traces on errors. */
  readonly verbose: number;
}

/** Where a command writes. Tests pass a recording one; the real one wraps process streams. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  readonly stdin: NodeJS.ReadableStream;
  readonly stdoutIsTTY: boolean;
}

/** Print a value as pretty JSON (bigints as decimal strings). */
export function printJson(io: CliIo, value: unknown): void {
  io.out(`${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
}

/**
 * One subcommand. `run` returns the exit status (default 0) and throws TxlError on failure;
 * heavy modules are imported inside `run` so `txl --help` and `txl --version` stay fast.
 */
export interface TxlCommand<A = object> {
  readonly command: string | readonly string[];
  readonly describe: string;
  readonly builder?: (yargs: Argv<GlobalArgs>) => Argv<A>;
  readonly examples?: readonly (readonly [string, string])[];
  readonly run: (args: ArgumentsCamelCase<A & GlobalArgs>, io: CliIo) => Promise<number | void>;
}

/** A command with subcommands (`txl config parse`, `txl lab exec`). */
export interface TxlCommandGroup {
  readonly command: string;
  readonly describe: string;
  readonly subcommands: readonly AnyTxlCommand[];
}

// The registry holds commands of different argument types; this is the one place that erases them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTxlCommand = TxlCommand<any> | TxlCommandGroup;

/** Identity helper that keeps the argument type of a command's builder and run in sync. */
export function defineCommand<A>(command: TxlCommand<A>): TxlCommand<A> {
  return command;
}

export function defineGroup(group: TxlCommandGroup): TxlCommandGroup {
  return group;
}
