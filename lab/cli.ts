// What `txl lab exec` and `txl lab shell` do (toolstack/cli/commands/lab.ts parses, this runs).
// Output goes through the caller's writers; nothing here touches process streams directly except
// the raw mode of an interactive terminal in labShell.
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { parseXenVersion } from './build.js';
import { LabError } from './errors.js';
import { bootLab, type LabShare } from './machine.js';

/** Where `txl lab` writes. */
export interface LabCliIo {
  out(text: string | Buffer): void;
  err(text: string | Buffer): void;
  /** Progress lines (boot, build); shown with -v or while building. */
  log(line: string): void;
}

/** Parses `--add HOST[:LAB]` (HOST relative to `cwd`; LAB absolute, default the absolute HOST path). */
export function parseAdd(spec: string, cwd: string): LabShare {
  const colon = spec.indexOf(':/');
  const host = colon > 0 ? spec.slice(0, colon) : spec;
  const lab = colon > 0 ? spec.slice(colon + 1) : undefined;
  if (!host) throw new LabError('TXL_LAB_USAGE', `--add '${spec}': name a host file or folder, optionally followed by :/lab/path`);
  const hostPath = resolvePath(cwd, host);
  if (!existsSync(hostPath)) throw new LabError('TXL_LAB_USAGE', `--add '${spec}': ${hostPath} does not exist on this host`);
  return { hostPath, labPath: lab ?? hostPath };
}

/** Parses `--disk HOST[:ro]` (HOST relative to `cwd`): a raw image attached as /dev/vdb, /dev/vdc... */
export function parseDisk(spec: string, cwd: string): { hostPath: string; readonly: boolean } {
  const readonly = spec.endsWith(':ro');
  const hostPath = resolvePath(cwd, readonly ? spec.slice(0, -3) : spec);
  if (!existsSync(hostPath)) throw new LabError('TXL_LAB_USAGE', `--disk '${spec}': ${hostPath} does not exist on this host`);
  return { hostPath, readonly };
}

/** Options of labExec. */
export interface LabExecOptions {
  readonly xen: string;
  readonly adds: readonly string[];
  /** Raw disk images (`HOST[:ro]`), /dev/vdb onwards in dom0. */
  readonly disks?: readonly string[];
  readonly timeoutSeconds?: number;
  /** QEMU memory in MiB (default 2048; dom0 keeps 1024 MiB, the rest is free for guests). */
  readonly memoryMiB?: number;
  readonly command: readonly string[];
  readonly cwd: string;
}

/**
 * Boots the lab, runs one command in dom0 (streaming its output), stops QEMU, returns the command's
 * status. Timeouts, crashes and boot failures throw LabError (after QEMU is stopped).
 */
export async function labExec(opts: LabExecOptions, io: LabCliIo): Promise<number> {
  const xen = parseXenVersion(opts.xen);
  if (opts.command.length === 0) throw new LabError('TXL_LAB_USAGE', "txl lab exec needs a command after '--', e.g. txl lab exec -- xl list");
  if (opts.timeoutSeconds !== undefined && !(opts.timeoutSeconds > 0)) {
    throw new LabError('TXL_LAB_USAGE', `--timeout ${opts.timeoutSeconds}: give a number of seconds above 0`);
  }
  const shares = opts.adds.map((spec) => parseAdd(spec, opts.cwd));
  const disks = (opts.disks ?? []).map((spec) => parseDisk(spec, opts.cwd));
  const lab = await bootLab({ xen, shares, disks, ...(opts.memoryMiB !== undefined ? { memoryMiB: opts.memoryMiB } : {}), onLog: io.log });
  try {
    const result = await lab.exec([...opts.command], {
      cwd: opts.cwd,
      ...(opts.timeoutSeconds ? { timeoutMs: opts.timeoutSeconds * 1000 } : {}),
      onStdout: (chunk) => io.out(chunk),
      onStderr: (chunk) => io.err(chunk),
    });
    return result.status;
  } finally {
    await lab.shutdown();
  }
}

/** Boots the lab and attaches the terminal to an interactive dom0 shell; returns the shell's status. */
export async function labShell(opts: { readonly xen: string; readonly adds: readonly string[]; readonly cwd: string }, io: LabCliIo, stdin: NodeJS.ReadableStream): Promise<number> {
  const xen = parseXenVersion(opts.xen);
  const shares = opts.adds.map((spec) => parseAdd(spec, opts.cwd));
  const lab = await bootLab({ xen, shares, onLog: io.log });
  const tty = process.stdin.isTTY === true && stdin === process.stdin;
  const rows = process.stdout.rows ?? 24;
  const cols = process.stdout.columns ?? 80;
  const proc = lab.spawn(['bash', '-l'], { cwd: opts.cwd, tty: { rows, cols, term: process.env.TERM ?? 'xterm' }, onStdout: (c) => io.out(c), onStderr: (c) => io.err(c) }, true);
  const onData = (chunk: Buffer | string): void => proc.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  const onEnd = (): void => proc.end();
  if (tty) process.stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  stdin.resume();
  try {
    return (await proc.done).status;
  } finally {
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    stdin.pause();
    if (tty) process.stdin.setRawMode(false);
    await lab.shutdown();
  }
}
