// Shares booted labs between processes: one process (vitest's global setup) owns the QEMUs and
// serves a Unix socket; test workers connect and get LabMachine proxies. One boot per Xen version.
import { rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { XenVersion } from './build.js';
import { LabError, type LabErrorCode } from './errors.js';
import type { ExecOptions, ExecResult, LabMachine } from './machine.js';
import { encodeMessage, LineDecoder } from './protocol.js';

/** A lab the broker can hand out; `failure()` tells whether it crashed (then the next open reboots). */
export interface BrokeredLab extends LabMachine {
  failure?(): Error | undefined;
}

type ClientMessage =
  | { t: 'open'; id: number; xen: XenVersion }
  | { t: 'exec'; id: number; xen: XenVersion; argv: string[]; env?: Record<string, string>; cwd?: string; stdin?: string; timeoutMs?: number }
  | { t: 'console'; id: number; xen: XenVersion };

type BrokerMessage =
  | { t: 'opened'; id: number }
  | { t: 'out'; id: number; fd: 1 | 2; data: string }
  | { t: 'result'; id: number; status: number; stdout: string; stderr: string }
  | { t: 'console'; id: number; text: string }
  | { t: 'error'; id: number; code: string; message: string; exitCode: number };

/** A running broker. */
export interface LabBroker {
  readonly socketPath: string;
  /** Shuts every lab down (kills the QEMUs) and stops serving. */
  close(): Promise<void>;
}

/**
 * Serves labs on `socketPath`. `boot` is called at most once per version at a time (again only after
 * a lab crashed); every client shares the machine.
 */
export async function startLabBroker(socketPath: string, boot: (xen: XenVersion) => Promise<BrokeredLab>): Promise<LabBroker> {
  const labs = new Map<XenVersion, Promise<BrokeredLab>>();
  const sockets = new Set<Socket>();
  const labFor = async (xen: XenVersion): Promise<BrokeredLab> => {
    const existing = labs.get(xen);
    if (existing) {
      const lab = await existing.catch(() => undefined);
      if (lab && !lab.failure?.()) return lab;
      if (lab) await lab.shutdown();
    }
    const booting = boot(xen);
    labs.set(xen, booting);
    booting.catch(() => labs.delete(xen));
    return booting;
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const reply = (m: BrokerMessage): void => void (socket.writable && socket.write(encodeMessage(m)));
    const replyError = (id: number, error: unknown): void => {
      const code = error instanceof LabError ? error.code : 'TXL_LAB_PROTOCOL';
      const exitCode = error instanceof LabError ? error.exitCode : 1;
      reply({ t: 'error', id, code, message: error instanceof Error ? error.message : String(error), exitCode });
    };
    const decoder = new LineDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const raw of decoder.push(chunk)) {
        const m = raw as ClientMessage;
        void (async () => {
          try {
            const lab = await labFor(m.xen);
            if (m.t === 'open') reply({ t: 'opened', id: m.id });
            else if (m.t === 'console') reply({ t: 'console', id: m.id, text: lab.console() });
            else {
              const r = await lab.exec(m.argv, {
                ...(m.env ? { env: m.env } : {}),
                ...(m.cwd ? { cwd: m.cwd } : {}),
                ...(m.stdin !== undefined ? { stdin: Buffer.from(m.stdin, 'base64') } : {}),
                ...(m.timeoutMs ? { timeoutMs: m.timeoutMs } : {}),
                onStdout: (c) => reply({ t: 'out', id: m.id, fd: 1, data: c.toString('base64') }),
                onStderr: (c) => reply({ t: 'out', id: m.id, fd: 2, data: c.toString('base64') }),
              });
              reply({ t: 'result', id: m.id, status: r.status, stdout: r.stdout, stderr: r.stderr });
            }
          } catch (error) {
            replyError(m.id, error);
          }
        })();
      }
    });
  });
  rmSync(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  return {
    socketPath,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const all = [...labs.values()];
      labs.clear();
      await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.shutdown()));
      rmSync(socketPath, { force: true });
    },
  };
}

interface Call {
  resolve(m: BrokerMessage): void;
  reject(e: Error): void;
  opts?: ExecOptions;
}

/** A client of a broker: `open(xen)` returns a LabMachine whose calls go to the broker's lab. */
export class LabBrokerClient {
  private nextId = 1;
  private readonly calls = new Map<number, Call>();

  private constructor(private readonly socket: Socket) {
    const decoder = new LineDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const raw of decoder.push(chunk)) this.onMessage(raw as BrokerMessage);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      for (const call of this.calls.values()) call.reject(new LabError('TXL_LAB_SHUTDOWN', 'the lab broker went away (the test run is ending?)'));
      this.calls.clear();
    });
    socket.unref();
  }

  /** Connects to the broker at `socketPath`. */
  static async connect(socketPath: string): Promise<LabBrokerClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(socketPath);
      s.once('connect', () => resolve(s));
      s.once('error', (e) => reject(new LabError('TXL_LAB_PROTOCOL', `cannot reach the lab broker at ${socketPath}: ${e.message}`)));
    });
    return new LabBrokerClient(socket);
  }

  private onMessage(m: BrokerMessage): void {
    const call = this.calls.get(m.id);
    if (!call) return;
    if (m.t === 'out') {
      const data = Buffer.from(m.data, 'base64');
      (m.fd === 1 ? call.opts?.onStdout : call.opts?.onStderr)?.(data);
      return;
    }
    this.calls.delete(m.id);
    if (this.calls.size === 0) this.socket.unref();
    if (m.t === 'error') call.reject(new LabError(m.code as LabErrorCode, m.message, { exitCode: m.exitCode }));
    else call.resolve(m);
  }

  private call(message: Omit<ClientMessage, 'id'>, opts?: ExecOptions): Promise<BrokerMessage> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject, ...(opts ? { opts } : {}) });
      this.socket.ref();
      this.socket.write(encodeMessage({ ...message, id }));
    });
  }

  /** Boots (or reuses) the broker's lab for `xen`. Its shutdown() only detaches: the broker owns QEMU. */
  async open(xen: XenVersion): Promise<LabMachine> {
    await this.call({ t: 'open', xen });
    let consoleText = '';
    const machine: LabMachine = {
      xen,
      exec: async (argv: string[], opts: ExecOptions = {}): Promise<ExecResult> => {
        const r = await this.call(
          {
            t: 'exec',
            xen,
            argv,
            ...(opts.env ? { env: { ...opts.env } } : {}),
            ...(opts.cwd ? { cwd: opts.cwd } : {}),
            ...(opts.stdin !== undefined ? { stdin: Buffer.from(opts.stdin).toString('base64') } : {}),
            ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
          } as Omit<ClientMessage, 'id'>,
          opts,
        );
        if (r.t !== 'result') throw new LabError('TXL_LAB_PROTOCOL', `unexpected broker reply '${r.t}'`);
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
      },
      console: () => consoleText,
      shutdown: async () => {},
    };
    // console() is synchronous in the contract: keep a copy fresh after every exec.
    const refresh = async (): Promise<string> => {
      const r = await this.call({ t: 'console', xen });
      if (r.t === 'console') consoleText = r.text;
      return consoleText;
    };
    await refresh();
    const exec = machine.exec;
    return {
      ...machine,
      exec: async (argv, opts) => {
        try {
          return await exec(argv, opts);
        } finally {
          await refresh().catch(() => undefined);
        }
      },
    };
  }
}
