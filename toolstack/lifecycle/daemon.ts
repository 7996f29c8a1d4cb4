// The host monitor (README.md "The monitor"): one process looking after every domain `txl create`
// registered, carrying out their on_* actions through DomainMonitor. It serves a unix socket
// (line-delimited JSON: {"op":"add","domid":N} / {"op":"status"}), loads the registration records
// (registry.ts) when it starts, keeps them in step with restarts, and exits once it has looked
// after nothing for `idleMs`.
import net from 'node:net';
import { messageOf } from '../../common/errors.js';
import type { Hypervisor } from '../../hypervisor/index.js';
import { DomainMonitor, type MonitorDeps, type MonitorEvent, type MonitoredDomain } from './monitor.js';
import { listRecords, readRecord, removeRecord, writeRecord, type MonitorRecord } from './registry.js';
import type { LifecycleStore } from './store.js';

/** How long the monitor stays up with nothing to look after (a create shortly after reuses it). */
export const DEFAULT_MONITOR_IDLE_MS = 30_000;

/** A request on the monitor socket. */
export type MonitorRequest = { readonly op: 'add'; readonly domid: number } | { readonly op: 'status' };

/** The answer to a request (one JSON line). */
export type MonitorReply =
  | { readonly ok: true; readonly pid: number; readonly domains: readonly { readonly domid: number; readonly name: string }[] }
  | { readonly ok: false; readonly error: string };

/** What the daemon runs with. */
export interface MonitorDaemonOptions {
  readonly hv: Hypervisor;
  readonly store: LifecycleStore;
  /** The record directory (registry.ts). */
  readonly dir: string;
  /** Where to listen: an inherited listening socket (`fd`, from the client that won the address) or a path ("\0name": abstract). */
  readonly listen: { readonly fd: number } | { readonly path: string } | { readonly server: net.Server };
  /** Exit after this long with no domain and no client (default DEFAULT_MONITOR_IDLE_MS). */
  readonly idleMs?: number;
  /** Re-creates a domain from its record's config under `name`, unpaused; returns the new domid. */
  readonly recreate: (config: MonitorRecord['config'], name: string) => Promise<number>;
  readonly destroy?: MonitorDeps['destroy'];
  readonly restartDelayMs?: number;
  readonly log?: (line: string) => void;
  readonly onEvent?: (event: MonitorEvent) => void;
}

/** A running host monitor. */
export class MonitorDaemon {
  /** Resolves when the daemon has stopped (idle, or stop()). */
  readonly closed: Promise<void>;
  private readonly server: net.Server;
  private readonly monitor: DomainMonitor;
  private readonly records = new Map<number, MonitorRecord>();
  private readonly clients = new Set<net.Socket>();
  private idleTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private resolveClosed!: () => void;
  /** Record-file updates in order (an event's file work finishes before the next one's starts). */
  private fileWork: Promise<void> = Promise.resolve();

  private constructor(private readonly opts: MonitorDaemonOptions) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.monitor = new DomainMonitor({
      hv: opts.hv,
      store: opts.store,
      ...(opts.destroy ? { destroy: opts.destroy } : {}),
      ...(opts.restartDelayMs !== undefined ? { restartDelayMs: opts.restartDelayMs } : {}),
      log: (line) => this.log(line),
      onEvent: (event) => this.onEvent(event),
    });
    if ('server' in opts.listen) {
      this.server = opts.listen.server;
      this.server.on('connection', (socket: net.Socket) => this.serve(socket));
    } else {
      this.server = net.createServer((socket) => this.serve(socket));
    }
  }

  /**
   * Starts listening, then loads the records (so a domain registered by a client that found no
   * monitor listening is always seen) and looks after each domain that still exists under its name.
   */
  static async start(opts: MonitorDaemonOptions): Promise<MonitorDaemon> {
    const daemon = new MonitorDaemon(opts);
    const listen = opts.listen;
    if (!('server' in listen)) {
      await new Promise<void>((resolve, reject) => {
        daemon.server.once('error', reject);
        daemon.server.listen('fd' in listen ? { fd: listen.fd } : { path: listen.path }, () => {
          daemon.server.off('error', reject);
          resolve();
        });
      });
    }
    for (const domid of await listRecords(opts.dir)) {
      await daemon.addFromRecord(domid).catch((error: unknown) => daemon.log(`record of domain ${domid} dropped: ${messageOf(error)}`));
    }
    daemon.checkIdle();
    return daemon;
  }

  /** Domains looked after now. */
  domains(): { domid: number; name: string }[] {
    return [...this.monitor.watched.values()].map((d) => ({ domid: d.domid, name: d.name }));
  }

  /** Stops serving and watching (domains and records are left as they are). */
  async stop(): Promise<void> {
    if (this.stopping) return this.closed;
    this.stopping = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.clients) c.destroy();
    await closed;
    await this.monitor.stop();
    await this.fileWork;
    this.resolveClosed();
    return this.closed;
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  /** Reads `domid`'s record and looks after the domain, unless it is gone or now someone else (domid reuse). */
  private async addFromRecord(domid: number): Promise<void> {
    if (this.monitor.watched.has(domid)) return;
    const record = await readRecord(this.opts.dir, domid);
    const info = await this.opts.hv.findDomain(domid);
    const name = info && !info.dying ? await this.opts.store.tryRead(`/local/domain/${domid}/name`) : undefined;
    if (name !== record.name) {
      await removeRecord(this.opts.dir, domid);
      throw new Error(info ? `domain ${domid} is now named '${name ?? ''}', not '${record.name}'` : `domain ${domid} (${record.name}) no longer exists`);
    }
    this.records.set(domid, record);
    const domain: MonitoredDomain = {
      domid,
      name: record.name,
      actions: record.actions,
      recreate: (newName) => this.opts.recreate(record.config, newName),
    };
    this.log(`Waiting for domain ${record.name} (domid ${domid}) to die [pid ${process.pid}]`);
    this.monitor.add(domain);
  }

  /** Domains between a shutdown whose action re-creates them and the 'restarted' (or 'error') that ends it. */
  private readonly pendingRestart = new Set<number>();

  /** Keeps the record files in step: a restart moves the record to the new domid; an end removes it. */
  private onEvent(event: MonitorEvent): void {
    this.opts.onEvent?.(event);
    const dir = this.opts.dir;
    const step = async (): Promise<void> => {
      switch (event.type) {
        case 'shutdown':
          if (['restart', 'rename-restart', 'coredump-restart', 'soft-reset'].includes(event.action)) this.pendingRestart.add(event.domid);
          return;
        case 'destroyed':
        case 'preserved':
          // A restart's destroy (or rename-restart's preserve): the record moves on 'restarted'.
          if (this.pendingRestart.has(event.domid)) return;
          this.records.delete(event.domid);
          await removeRecord(dir, event.domid);
          return;
        case 'restarted': {
          this.pendingRestart.delete(event.oldDomid);
          const old = this.records.get(event.oldDomid);
          this.records.delete(event.oldDomid);
          if (old) {
            const record: MonitorRecord = { ...old, domid: event.domid };
            this.records.set(event.domid, record);
            await writeRecord(dir, record);
          }
          await removeRecord(dir, event.oldDomid);
          return;
        }
        case 'gone':
        case 'error':
          this.pendingRestart.delete(event.domid);
          this.records.delete(event.domid);
          await removeRecord(dir, event.domid);
          return;
      }
    };
    this.fileWork = this.fileWork.then(step).catch((error: unknown) => this.log(`monitor records: ${messageOf(error)}`));
    void this.fileWork.then(() => this.checkIdle());
  }

  private checkIdle(): void {
    if (this.stopping) return;
    const idle = this.monitor.watched.size === 0 && this.clients.size === 0 && this.pendingRestart.size === 0;
    if (!idle) {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      return;
    }
    if (this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.monitor.watched.size === 0 && this.clients.size === 0 && this.pendingRestart.size === 0) {
        this.log('Nothing left to look after: exiting');
        void this.stop();
      }
    }, this.opts.idleMs ?? DEFAULT_MONITOR_IDLE_MS);
  }

  private serve(socket: net.Socket): void {
    this.clients.add(socket);
    this.checkIdle();
    let buffer = '';
    let queue: Promise<void> = Promise.resolve();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        queue = queue.then(async () => {
          const reply = await this.handle(line);
          if (!socket.destroyed) socket.write(`${JSON.stringify(reply)}\n`);
        });
      }
    });
    const done = (): void => {
      this.clients.delete(socket);
      void queue.then(() => this.checkIdle());
    };
    socket.on('close', done);
    socket.on('error', () => socket.destroy());
  }

  private async handle(line: string): Promise<MonitorReply> {
    try {
      const request = JSON.parse(line) as MonitorRequest;
      if (request.op === 'add') {
        if (!Number.isInteger(request.domid)) throw new Error(`'add' needs an integer domid, got ${JSON.stringify(request.domid)}`);
        await this.addFromRecord(request.domid);
      } else if (request.op !== 'status') {
        throw new Error(`unknown request ${JSON.stringify((request as { op?: unknown }).op)} (known: add, status)`);
      }
      return { ok: true, pid: process.pid, domains: this.domains() };
    } catch (error) {
      return { ok: false, error: messageOf(error) };
    }
  }
}
