// `txl create`'s side of the host monitor: write the domain's record, then ask the running monitor
// to add it, or, when none listens, take the monitor's socket address and start one on it.
//
// No lock is needed: binding the (abstract) socket address is the lock. The client that binds it
// hands the listening socket to the daemon it spawns (as fd 3), so connections made while the daemon
// is still starting wait in the socket's backlog instead of failing. A daemon loads the records after
// it is listening, so a record written before a failed connect is always picked up.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LifecycleError } from './errors.js';
import type { MonitorReply, MonitorRequest } from './daemon.js';
import { monitorDir, writeRecord, type MonitorRecord } from './registry.js';

/** The monitor's socket unless TXL_MONITOR_SOCKET says otherwise ('@name' = abstract, else a path). */
export const DEFAULT_MONITOR_SOCKET = '@txl-monitor';

/** Where the daemon logs unless TXL_MONITOR_LOG says otherwise (xl's monitors log to /var/log/xen/xl-NAME.log). */
export const DEFAULT_MONITOR_LOG = '/var/log/xen/txl-monitor.log';

/** The socket address as net wants it ('@name' becomes the abstract "\0name"). */
export function monitorSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const name = env.TXL_MONITOR_SOCKET || DEFAULT_MONITOR_SOCKET;
  return name.startsWith('@') ? `\0${name.slice(1)}` : name;
}

/** How registration went. */
export type RegisterOutcome =
  /** A running monitor added the domain. */
  | { readonly how: 'added'; readonly pid: number }
  /** No monitor was listening: one was started on the socket; it picks the record up when it starts. */
  | { readonly how: 'started'; readonly pid: number | undefined };

/** Options of registerWithMonitor (tests point them elsewhere). */
export interface RegisterOptions {
  readonly dir?: string;
  readonly socketPath?: string;
  /** Starts a daemon on an already listening server, taking it over (default: spawnMonitorDaemon). Returns its pid. */
  readonly startDaemon?: (server: net.Server) => Promise<number | undefined>;
  /** How long to wait for a monitor's answer (it may still be starting). Default 60 s. */
  readonly replyTimeoutMs?: number;
}

/** Sends one request to the monitor at `socketPath`; rejects with the socket's error code on connect failures. */
export function askMonitor(socketPath: string, request: MonitorRequest, timeoutMs = 60_000): Promise<MonitorReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buffer = '';
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    const timer = setTimeout(() => finish(() => reject(Object.assign(new Error(`the monitor did not answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }))), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      const line = buffer.slice(0, nl);
      finish(() => {
        try {
          resolve(JSON.parse(line) as MonitorReply);
        } catch {
          reject(new Error(`the monitor answered something that is not JSON: ${line.slice(0, 200)}`));
        }
      });
    });
    socket.on('error', (error) => finish(() => reject(error)));
    socket.on('close', () => finish(() => reject(Object.assign(new Error('the monitor closed the connection without answering'), { code: 'ECONNRESET' }))));
  });
}

/** Binds `socketPath` (the monitor's address); undefined when it is in use. */
function bindAddress(socketPath: string): Promise<net.Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(undefined) : reject(error)));
    server.listen({ path: socketPath, backlog: 64 }, () => resolve(server));
  });
}

/**
 * The default daemon start: `node daemon-main.js` detached, in its own session, with the listening
 * socket as fd 3 and its output appended to TXL_MONITOR_LOG. Closes `server` here (the daemon has
 * its own copy of the descriptor; ours must go, or the address would outlive the daemon).
 */
export async function spawnMonitorDaemon(server: net.Server, env: NodeJS.ProcessEnv = process.env): Promise<number | undefined> {
  // net.Server keeps its listening descriptor on the internal handle; passing it by number is the one
  // way spawn() accepts (passing the Server object itself makes spawn try to pause it as a stream).
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) throw new LifecycleError('TXL_LC_MONITOR', 'cannot hand the monitor socket to the daemon (no descriptor on this platform)');
  const logPath = env.TXL_MONITOR_LOG || DEFAULT_MONITOR_LOG;
  mkdirSync(dirname(logPath), { recursive: true });
  const log = openSync(logPath, 'a');
  try {
    const main = fileURLToPath(new URL('./daemon-main.js', import.meta.url));
    const child = spawn(process.execPath, [main], {
      detached: true,
      stdio: ['ignore', log, log, fd],
      env: { ...env, TXL_MONITOR_FD: '3' },
    });
    child.unref();
    return child.pid;
  } finally {
    closeSync(log);
    server.close();
  }
}

/**
 * Registers a freshly created domain with the host monitor: writes its record, then asks the monitor
 * to add it, starting a monitor when none is listening. Throws TXL_LC_MONITOR when the monitor
 * refuses the record or cannot be reached.
 */
export async function registerWithMonitor(record: MonitorRecord, opts: RegisterOptions = {}): Promise<RegisterOutcome> {
  const dir = opts.dir ?? monitorDir();
  const socketPath = opts.socketPath ?? monitorSocketPath();
  await writeRecord(dir, record);
  let lastError: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const reply = await askMonitor(socketPath, { op: 'add', domid: record.domid }, opts.replyTimeoutMs);
      if (!reply.ok) throw new LifecycleError('TXL_LC_MONITOR', `the domain monitor refused domain ${record.domid}: ${reply.error}`, { details: { domid: record.domid } });
      return { how: 'added', pid: reply.pid };
    } catch (error) {
      if (error instanceof LifecycleError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      lastError = error;
      if (code === 'ETIMEDOUT') break;
      // ECONNREFUSED/ENOENT: nobody listens; ECONNRESET: a monitor exiting as idle closed its socket.
      if (code !== 'ECONNREFUSED' && code !== 'ENOENT' && code !== 'ECONNRESET') break;
    }
    const server = await bindAddress(socketPath);
    if (!server) {
      // Someone else bound it since: a monitor is starting; ask it.
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    const pid = await (opts.startDaemon ?? ((s) => spawnMonitorDaemon(s)))(server);
    return { how: 'started', pid };
  }
  throw new LifecycleError('TXL_LC_MONITOR', `cannot reach the domain monitor on ${socketPath.replace('\0', '@')}: ${(lastError as Error | undefined)?.message ?? 'no answer'}`, {
    details: { domid: record.domid },
    hint: `on_poweroff/on_reboot/on_crash of domain ${record.domid} will not be carried out; see ${process.env.TXL_MONITOR_LOG || DEFAULT_MONITOR_LOG}`,
  });
}
