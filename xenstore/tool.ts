// The xenstore-read/-write/-ls/-list/-rm/-exists/-chmod/-watch tools, with the options, output and
// exit statuses of tools/xenstore/xenstore_client.c (Xen 4.17), over a XenstoreClient.
import type { XenstoreClient, XsTransaction } from './client.js';
import { ERRNO_TEXT, isXsErrno, XenstoreError } from './errors.js';
import { formatPermission, type XsPermission } from './perms.js';
import { sanitiseValue, unsanitiseValue } from './sanitise.js';

/** The tool modes. */
export const TOOL_MODES = ['read', 'write', 'ls', 'list', 'rm', 'exists', 'chmod', 'watch'] as const;
export type ToolMode = (typeof TOOL_MODES)[number];

/** What the tool needs from its surroundings. */
export interface ToolIo {
  /** Writes bytes to stdout. */
  out(bytes: Buffer | string): void;
  /** Writes text to stderr. */
  err(text: string): void;
  /** Terminal width when stdout is a terminal (xenstore-ls uses columns - 2), else undefined (80). */
  readonly columns: number | undefined;
  /** Opens the connection (xs_open). */
  connect(): Promise<XenstoreClient>;
}

/** Ends the tool with a status (err()/errx() in C). */
class Exit extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
  }
}

const USAGE: Record<ToolMode, string> = {
  read: '[-h] [-p] [-s] [-R] key [...]',
  write: '[-h] [-s] [-R] key value [...]',
  rm: '[-h] [-s] [-t] key [...]',
  exists: '[-h] [-p] [-s] key [...]',
  list: '[-h] [-p] [-s] key [...]',
  ls: '[-h] [-f] [-p] [-s] [path]',
  chmod: '[-h] [-u] [-r] [-s] key <mode [modes...]>',
  watch: '[-h] [-n NR] key',
};

interface Options {
  prefix: boolean;
  tidy: boolean;
  upto: boolean;
  recurse: boolean;
  raw: boolean;
  flat: boolean;
  nrWatches: number;
}

const LONG_OPTIONS: readonly { name: string; hasArg: boolean; short: string }[] = [
  { name: 'help', hasArg: false, short: 'h' },
  { name: 'flat', hasArg: false, short: 'f' },
  { name: 'prefix', hasArg: false, short: 'p' },
  { name: 'tidy', hasArg: false, short: 't' },
  { name: 'upto', hasArg: false, short: 'u' },
  { name: 'recurse', hasArg: false, short: 'r' },
  { name: 'number', hasArg: true, short: 'n' },
  { name: 'raw', hasArg: false, short: 'R' },
];
const SHORT = 'hfspturn:R';

/** C atoi(). */
function atoi(text: string): number {
  const m = /^\s*([+-]?\d+)/.exec(text);
  return m ? Number(m[1]) | 0 : 0;
}

/**
 * GNU getopt_long with argument permutation: returns the options in order and the operands.
 * Unknown options and missing arguments are reported (as getopt does) and skipped.
 */
function getopt(args: readonly string[], prog: string, io: ToolIo): { opts: { c: string; arg?: string }[]; operands: string[] } {
  const opts: { c: string; arg?: string }[] = [];
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const exact = LONG_OPTIONS.find((o) => o.name === name);
      const candidates = exact ? [exact] : LONG_OPTIONS.filter((o) => o.name.startsWith(name));
      if (candidates.length !== 1) {
        io.err(candidates.length ? `${prog}: option '${a}' is ambiguous; possibilities:${candidates.map((c) => ` '--${c.name}'`).join('')}\n` : `${prog}: unrecognized option '${a}'\n`);
        opts.push({ c: '?' });
        continue;
      }
      const opt = candidates[0]!;
      if (opt.hasArg) {
        if (eq >= 0) opts.push({ c: opt.short, arg: a.slice(eq + 1) });
        else if (i + 1 < args.length) opts.push({ c: opt.short, arg: args[++i]! });
        else {
          io.err(`${prog}: option '--${opt.name}' requires an argument\n`);
          opts.push({ c: '?' });
        }
      } else if (eq >= 0) {
        io.err(`${prog}: option '--${opt.name}' doesn't allow an argument\n`);
        opts.push({ c: '?' });
      } else opts.push({ c: opt.short });
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const at = SHORT.indexOf(c);
        if (at < 0 || c === ':') {
          io.err(`${prog}: invalid option -- '${c}'\n`);
          opts.push({ c: '?' });
          continue;
        }
        if (SHORT[at + 1] === ':') {
          if (j + 1 < a.length) opts.push({ c, arg: a.slice(j + 1) });
          else if (i + 1 < args.length) opts.push({ c, arg: args[++i]! });
          else {
            io.err(`${prog}: option requires an argument -- '${c}'\n`);
            opts.push({ c: '?' });
          }
          break;
        }
        opts.push({ c });
      }
      continue;
    }
    operands.push(a);
  }
  return { opts, operands };
}

/**
 * Runs one xenstore tool mode with its arguments (without the program name and mode word).
 * `prog` is the name used in messages (e.g. "xenstore-read" or "txl xenstore read").
 * Returns the exit status; writes output and messages through `io`.
 */
export async function runXenstoreTool(mode: ToolMode, args: readonly string[], io: ToolIo, prog = `xenstore-${mode}`): Promise<number> {
  let client: XenstoreClient | undefined;
  try {
    return await run(mode, args, io, prog, (c) => (client = c));
  } catch (error) {
    if (error instanceof Exit) return error.status;
    throw error;
  } finally {
    await client?.close();
  }
}

async function run(mode: ToolMode, args: readonly string[], io: ToolIo, prog: string, opened: (c: XenstoreClient) => void): Promise<number> {
  const errx = (message: string): never => {
    io.err(`${prog}: ${message}\n`);
    throw new Exit(1);
  };
  const errWithErrno = (message: string, error: unknown): never => {
    io.err(`${prog}: ${message}: ${errnoText(error)}\n`);
    throw new Exit(1);
  };
  const usage = (): never => errx(`Usage: ${prog} ${USAGE[mode]}`);

  const options: Options = { prefix: false, tidy: false, upto: false, recurse: false, raw: false, flat: false, nrWatches: -1 };
  const { opts, operands } = getopt(args, prog, io);
  for (const { c, arg } of opts) {
    switch (c) {
      case 'h': usage(); break;
      case 'f': if (mode === 'ls') options.flat = true; else usage(); break;
      case 'p': if (mode === 'read' || mode === 'list' || mode === 'ls') options.prefix = true; else usage(); break;
      case 't': if (mode === 'rm') options.tidy = true; else usage(); break;
      case 'u': if (mode === 'chmod') options.upto = true; else usage(); break;
      case 'r': if (mode === 'chmod') options.recurse = true; else usage(); break;
      case 'n': if (mode === 'watch') options.nrWatches = atoi(arg ?? ''); else usage(); break;
      case 'R': if (mode === 'read' || mode === 'write') options.raw = true; else usage(); break;
      default: break; // 's' and '?' are accepted and ignored, as in the C tool
    }
  }
  if (mode === 'write' && operands.length % 2 === 1) usage();
  if (mode !== 'ls' && operands.length === 0) usage();

  const transactional = mode === 'read' ? operands.length > 1 : mode === 'write' ? operands.length > 2 : mode !== 'ls' && mode !== 'watch';
  let maxWidth = 80;
  if (mode === 'ls' && io.columns !== undefined) maxWidth = io.columns - 2;

  let client: XenstoreClient;
  try {
    client = await io.connect();
  } catch (error) {
    return errWithErrno('xs_open', error);
  }
  opened(client);

  for (;;) {
    let tx: XsTransaction | undefined;
    if (transactional) {
      try {
        tx = await client.transactionStart();
      } catch {
        errx("couldn't start transaction");
      }
    }
    const output: (Buffer | string)[] = [];
    const ret = await perform(mode, operands, client, tx, options, maxWidth, io, output, prog, errx, errWithErrno);
    if (tx) {
      try {
        await client.transactionEnd(tx, ret === 0);
      } catch (error) {
        if (ret === 0 && isXsErrno(error, 'EAGAIN')) continue;
        errx("couldn't end transaction");
      }
    }
    for (const chunk of output) io.out(chunk);
    return ret;
  }
}

/** strerror() wording of the socket errors Node reports when connecting. */
const SYSTEM_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'No such file or directory', ECONNREFUSED: 'Connection refused', EACCES: 'Permission denied', EPERM: 'Operation not permitted',
};

function errnoText(error: unknown): string {
  if (error instanceof XenstoreError) {
    const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
    if (error.code === 'TXL_XS_CONNECT' && code && SYSTEM_ERRORS[code]) return SYSTEM_ERRORS[code];
    return ERRNO_TEXT[error.errno];
  }
  return error instanceof Error ? error.message : String(error);
}

async function attempt<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (error) {
    if (error instanceof XenstoreError) return undefined;
    throw error;
  }
}

async function perform(
  mode: ToolMode, operands: readonly string[], client: XenstoreClient, tx: XsTransaction | undefined, options: Options,
  maxWidth: number, io: ToolIo, output: (Buffer | string)[], prog: string,
  errx: (message: string) => never, errWithErrno: (message: string, error: unknown) => never,
): Promise<number> {
  const warnx = (message: string) => io.err(`${prog}: ${message}\n`);
  switch (mode) {
    case 'read':
      for (const key of operands) {
        const value = await attempt(client.readBytes(key, tx));
        if (value === undefined) {
          warnx(`couldn't read path ${key}`);
          return 1;
        }
        if (options.prefix) output.push(`${key}: `);
        output.push(options.raw ? value : `${sanitiseValue(value)}\n`);
      }
      return 0;
    case 'write':
      for (let i = 0; i < operands.length; i += 2) {
        const key = operands[i]!;
        const spec = Buffer.from(operands[i + 1]!, 'utf8');
        const value = options.raw ? spec : unsanitiseValue(spec);
        if ((await attempt(client.write(key, value, tx).then(() => true))) === undefined) {
          warnx(`could not write path ${key}`);
          return 1;
        }
      }
      return 0;
    case 'rm':
      for (const key of operands) {
        let path = key;
        for (;;) {
          if ((await attempt(client.rm(path, tx).then(() => true))) === undefined) {
            warnx(`could not remove path ${path}`);
            return 1;
          }
          if (!options.tidy) break;
          const slash = path.lastIndexOf('/');
          if (slash < 0) break;
          path = path.slice(0, slash);
          const value = await attempt(client.readBytes(path, tx));
          if (value === undefined || value.length !== 0) break;
          const list = await attempt(client.directory(path, tx));
          if (list === undefined || list.length !== 0) break;
        }
      }
      return 0;
    case 'exists':
      for (const key of operands) {
        if ((await attempt(client.readBytes(key, tx))) === undefined) return 1;
      }
      return 0;
    case 'list':
      for (const key of operands) {
        const list = await attempt(client.directory(key, tx));
        if (list === undefined) {
          warnx(`could not list path ${key}`);
          return 1;
        }
        for (const name of list) output.push(`${options.prefix ? `${key}/` : ''}${name}\n`);
      }
      return 0;
    case 'ls': {
      const paths = operands.length ? operands : ['/'];
      for (const path of paths) await doLs(client, path, 0, options, maxWidth, io, prog, errWithErrno);
      return 0;
    }
    case 'chmod': {
      const [path, ...modes] = operands as [string, ...string[]];
      const perms: XsPermission[] = modes.map((m) => {
        const letter = m[0];
        if (letter !== 'n' && letter !== 'r' && letter !== 'w' && letter !== 'b') return errx(`Invalid permission specification: '${m[0] ?? ''}'`);
        return { domid: atoi(m.slice(1)) >>> 0, access: letter };
      });
      await doChmod(client, tx, path, perms, options.upto, options.recurse, errx, errWithErrno);
      return 0;
    }
    case 'watch': {
      // Events are printed in arrival order, whichever watch they belong to (xs_read_watch).
      const queue: string[] = [];
      let wake: (() => void) | undefined;
      const untap = client.tapEvents((event) => {
        queue.push(event.path);
        wake?.();
      });
      const lost = new Promise<void>((resolve) => client.onClose(() => resolve()));
      try {
        for (const key of operands) {
          const watch = client.watch(key, key);
          try {
            await watch.ready;
          } catch {
            errx(`Unable to add watch on ${key}\n`);
          }
        }
        for (let count = 0; options.nrWatches === -1 || count < options.nrWatches; count++) {
          while (queue.length === 0) {
            if (client.closed) return errx('xs_read_watch: connection to xenstored lost');
            await Promise.race([new Promise<void>((resolve) => (wake = resolve)), lost]);
            wake = undefined;
          }
          io.out(`${queue.shift()!}\n`);
        }
      } finally {
        untap();
      }
      return 0;
    }
  }
}

const TAG_LEN = ' = "..."'.length;
const STRING_MAX = 3072 + 1024;

/** printf("%.*s", precision, s): a negative precision prints everything. */
function precision(s: string, p: number): string {
  return p < 0 ? s : s.slice(0, p);
}

async function doLs(
  client: XenstoreClient, path: string, depth: number, options: Options, maxWidthIn: number, io: ToolIo, prog: string,
  errWithErrno: (message: string, error: unknown) => never,
): Promise<void> {
  const flat = options.flat;
  const maxWidth = flat ? Math.floor(0x7fffffff / 2) : maxWidthIn;
  const desiredWidth = flat ? 0 : 60;
  let children: string[];
  try {
    children = await client.directory(path);
  } catch (error) {
    if (depth && isXsErrno(error, 'ENOENT')) return;
    if (!(error instanceof XenstoreError)) throw error;
    errWithErrno(`xs_directory (${path})`, error);
  }
  // The requests for each entry are pipelined: value and permissions of all children at once.
  const fullPaths = children!.map((name) => `${path}${path.endsWith('/') ? '' : '/'}${name}`);
  const values = fullPaths.map((p) => (Buffer.byteLength(p) < STRING_MAX ? settle(client.readBytes(p)) : Promise.resolve(undefined)));
  const perms = fullPaths.map((p) => (options.prefix ? settleErr(client.getPermissions(p)) : Promise.resolve(undefined)));
  for (let i = 0; i < children!.length; i++) {
    const name = children![i]!;
    const full = fullPaths[i]!;
    let line = '';
    let linewid = 0;
    if (flat) line += full;
    else {
      line += ' '.repeat(Math.max(0, depth));
      linewid = depth;
      const shown = precision(name, maxWidth - TAG_LEN - linewid);
      line += shown;
      linewid += shown.length;
    }
    const value = await values[i]!;
    if (value === undefined) line += ':\n';
    else {
      const text = sanitiseValue(value);
      if (maxWidth < linewid + value.length + TAG_LEN) {
        line += ` = "${precision(text, maxWidth - TAG_LEN - linewid)}\\..."`;
      } else {
        const part = ` = "${text}"`;
        line += part;
        linewid += part.length;
        if (options.prefix) {
          line += ' ';
          for (linewid++; linewid < Math.min(desiredWidth, maxWidth); linewid++) line += linewid & 1 ? '.' : ' ';
        }
      }
    }
    if (options.prefix) {
      const result = await perms[i]!;
      if (result instanceof XenstoreError || result === undefined) {
        io.out(line);
        line = '';
        io.err(`${prog}: \ncould not access permissions for ${name}: ${errnoText(result)}\n`);
      } else line += `  (${result.map(formatPermission).join(',')})`;
    }
    line += '\n';
    io.out(line);
    await doLs(client, full, depth + 1, options, maxWidthIn, io, prog, errWithErrno);
  }
}

function settle<T>(p: Promise<T>): Promise<T | undefined> {
  return p.then((v) => v, (error: unknown) => {
    if (error instanceof XenstoreError && error.code !== 'TXL_XS_CLOSED') return undefined;
    throw error;
  });
}

function settleErr<T>(p: Promise<T>): Promise<T | XenstoreError> {
  return p.then((v) => v, (error: unknown) => {
    if (error instanceof XenstoreError && error.code !== 'TXL_XS_CLOSED') return error;
    throw error;
  });
}

async function doChmod(
  client: XenstoreClient, tx: XsTransaction | undefined, path: string, perms: XsPermission[], upto: boolean, recurse: boolean,
  errx: (message: string) => never, errWithErrno: (message: string, error: unknown) => never,
): Promise<void> {
  if (!path) return;
  try {
    await client.setPermissions(path, perms, tx);
  } catch (error) {
    if (!(error instanceof XenstoreError)) throw error;
    errWithErrno(`Error occurred setting permissions on '${path}'`, error);
  }
  if (upto) {
    const slash = path.lastIndexOf('/');
    if (slash < 0) errx(`Unable to locate path separator '/' in '${path}'`);
    await doChmod(client, tx, path.slice(0, slash), perms, true, false, errx, errWithErrno);
  }
  if (recurse) {
    const children = await attempt(client.directory(path, tx));
    for (const child of children ?? []) {
      // snprintf(buf, MAX_PATH_LEN=256, "%s/%s"): truncated to 255 bytes.
      const childPath = Buffer.from(`${path}/${child}`).subarray(0, 255).toString('utf8');
      await doChmod(client, tx, childPath, perms, false, true, errx, errWithErrno);
    }
  }
}

let connector: (() => Promise<XenstoreClient>) | undefined;

/**
 * The connection factory the CLI uses: XenstoreClient.connect() (XENSTORED_PATH, the socket, then
 * /dev/xen/xenbus) unless a test installed another with setToolConnector.
 */
export function toolConnector(): () => Promise<XenstoreClient> {
  return connector ?? (async () => (await import('./client.js')).XenstoreClient.connect());
}

/** Installs (or with undefined removes) the connection factory of `txl xenstore` (tests: a MemoryXenstore). */
export function setToolConnector(factory: (() => Promise<XenstoreClient>) | undefined): void {
  connector = factory;
}
