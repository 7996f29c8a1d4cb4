// The domain monitor: carries out on_poweroff/on_reboot/on_crash/on_watchdog/on_soft_reset when a guest
// shuts down, as xl's per-domain daemon does (xl_vmcontrol.c handle_domain_death, preserve_domain),
// for any number of domains from one process (see README.md for why one host monitor).
import { randomUUID } from 'node:crypto';
import type { Hypervisor } from '../../hypervisor/index.js';
import { messageOf } from '../../common/errors.js';
import { LifecycleError } from './errors.js';
import { watchDomainEvents, type DomainEventWatch } from './events.js';
import type { LifecycleStore } from './store.js';

/** What to do when a guest stops (xl.cfg on_* values, libxl_action_on_shutdown). */
export type ShutdownAction = 'destroy' | 'restart' | 'rename-restart' | 'preserve' | 'coredump-destroy' | 'coredump-restart' | 'soft-reset';

/** The on_* settings of one domain (DomainConfig's resolved values). */
export interface ShutdownActions {
  readonly onPoweroff: ShutdownAction;
  readonly onReboot: ShutdownAction;
  readonly onCrash: ShutdownAction;
  readonly onWatchdog?: ShutdownAction;
  readonly onSoftReset?: ShutdownAction;
}

/** A domain the monitor looks after. */
export interface MonitoredDomain {
  readonly domid: number;
  /** The name it was created with (restarts keep it; rename-restart preserves the old one under NAME-<time>). */
  readonly name: string;
  readonly actions: ShutdownActions;
  /**
   * Creates the guest again from its saved config under `name` (the create path: plan + execute,
   * unpaused) and returns the new domid. Called after the old domain was destroyed (restart) or
   * renamed away (rename-restart).
   */
  readonly recreate: (name: string) => Promise<number>;
}

/** What the monitor did; `log` carries xl-style lines as well. */
export type MonitorEvent =
  | { readonly type: 'shutdown'; readonly domid: number; readonly name: string; readonly reason: number; readonly action: ShutdownAction | 'none' }
  | { readonly type: 'destroyed'; readonly domid: number; readonly name: string }
  | { readonly type: 'preserved'; readonly domid: number; readonly name: string; readonly preservedAs?: string }
  | { readonly type: 'restarted'; readonly oldDomid: number; readonly domid: number; readonly name: string }
  | { readonly type: 'gone'; readonly domid: number; readonly name: string }
  | { readonly type: 'error'; readonly domid: number; readonly name: string; readonly error: unknown };

/** What the monitor runs against. */
export interface MonitorDeps {
  readonly hv: Hypervisor;
  readonly store: LifecycleStore;
  /**
   * Destroys a domain with its xenstore nodes and devices (the destroy path). Default: pause,
   * destroydomain, remove /local/domain/N, /vm/<uuid>, /libxl/N and the device back-ends.
   */
  readonly destroy?: (domid: number) => Promise<void>;
  /** xl's log lines ("Domain 5 has shut down, reason code 1 0x1", "Action for shutdown reason code 1 is restart"...). */
  readonly log?: (line: string) => void;
  readonly onEvent?: (event: MonitorEvent) => void;
  /** Time between destroying a domain and re-creating it (xl sleeps 2 s; default 0). */
  readonly restartDelayMs?: number;
  /** Clock for rename-restart suffixes (tests pin it). */
  readonly now?: () => Date;
}

/** Default destroy: what `txl destroy` does (libxl__destroy_domid without device teardown scripts). */
export async function destroyDomainAndNodes(hv: Hypervisor, store: LifecycleStore, domid: number): Promise<void> {
  const domPath = `/local/domain/${domid}`;
  const vmPath = await store.tryRead(`${domPath}/vm`).catch(() => undefined);
  const backends: string[] = [];
  for (const kind of await store.directory(`${domPath}/device`).catch(() => [] as string[])) {
    for (const devid of await store.directory(`${domPath}/device/${kind}`).catch(() => [] as string[])) {
      const backend = await store.tryRead(`${domPath}/device/${kind}/${devid}/backend`).catch(() => undefined);
      if (backend) backends.push(backend);
    }
  }
  const consoleBackend = `/local/domain/0/backend/console/${domid}`;
  await hv.pause(domid).catch(() => undefined);
  await hv.destroyDomain(domid).catch(async (error: unknown) => {
    if (await hv.findDomain(domid)) throw error;
  });
  const rm = async (path: string): Promise<void> => store.rm(path).catch(() => undefined);
  for (const path of backends) await rm(path);
  await rm(consoleBackend);
  if (vmPath) await rm(vmPath);
  await rm(domPath);
  await rm(`/libxl/${domid}`);
}

/** The action for a SHUTDOWN_* reason code (unknown codes: destroy, as xl does). */
export function actionFor(actions: ShutdownActions, reason: number): ShutdownAction | 'none' {
  switch (reason) {
    case 0: return actions.onPoweroff;
    case 1: return actions.onReboot;
    case 2: return 'none'; // suspend: the save path handles it
    case 3: return actions.onCrash;
    case 4: return actions.onWatchdog ?? 'destroy';
    case 5: return actions.onSoftReset ?? 'soft-reset';
    default: return 'destroy';
  }
}

/** preserve_domain's suffix: "-%Y%m%dT%H%MZ" in UTC. */
export function preserveSuffix(at: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `-${at.getUTCFullYear()}${two(at.getUTCMonth() + 1)}${two(at.getUTCDate())}T${two(at.getUTCHours())}${two(at.getUTCMinutes())}Z`;
}

/**
 * One monitor for many domains. `add` starts looking after a domain (e.g. right after create);
 * the monitor follows it across restarts (the new domid replaces the old) until it is destroyed,
 * preserved or gone. `idle()` resolves when no domain is left (a per-domain monitor process exits then).
 */
export class DomainMonitor {
  private readonly domains = new Map<number, MonitoredDomain>();
  private readonly events: DomainEventWatch;
  private readonly loop: Promise<void>;
  private readonly idleWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly deps: MonitorDeps) {
    this.events = watchDomainEvents(deps.hv, deps.store, []);
    this.loop = this.run();
  }

  /** Domains currently looked after, by domid. */
  get watched(): ReadonlyMap<number, MonitoredDomain> {
    return this.domains;
  }

  /** Starts looking after `domain` (a shutdown that already happened is handled at once). */
  add(domain: MonitoredDomain): void {
    this.domains.set(domain.domid, domain);
    this.events.add(domain.domid);
  }

  /** Stops looking after `domid` (the domain itself is left alone). */
  remove(domid: number): void {
    this.domains.delete(domid);
    this.events.remove(domid);
    this.checkIdle();
  }

  /** Resolves when no domain is looked after any more. */
  idle(): Promise<void> {
    if (this.domains.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops the monitor (domains are left as they are). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.events.close();
    await this.loop.catch(() => undefined);
  }

  private checkIdle(): void {
    if (this.domains.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private log(line: string): void {
    this.deps.log?.(line);
  }

  private emit(event: MonitorEvent): void {
    this.deps.onEvent?.(event);
  }

  private async run(): Promise<void> {
    for await (const event of this.events) {
      if (this.stopped) break;
      const domain = this.domains.get(event.domid);
      if (!domain) continue;
      if (event.type === 'death') {
        this.log(`Domain ${event.domid} has been destroyed.`);
        this.domains.delete(event.domid);
        this.emit({ type: 'gone', domid: event.domid, name: domain.name });
        this.checkIdle();
        continue;
      }
      try {
        await this.handleShutdown(domain, event.reason);
      } catch (error) {
        this.log(`Domain ${domain.domid}: ${messageOf(error)}`);
        this.emit({ type: 'error', domid: domain.domid, name: domain.name, error });
        // Leave the domain where it is (as xl does when a restart fails) and stop watching it.
        this.domains.delete(domain.domid);
        this.events.remove(domain.domid);
      }
      this.checkIdle();
    }
  }

  private async destroy(domid: number): Promise<void> {
    if (this.deps.destroy) await this.deps.destroy(domid);
    else await destroyDomainAndNodes(this.deps.hv, this.deps.store, domid);
  }

  private async handleShutdown(domain: MonitoredDomain, reason: number): Promise<void> {
    const { domid, name } = domain;
    this.log(`Domain ${domid} has shut down, reason code ${reason} 0x${reason.toString(16)}`);
    let action = actionFor(domain.actions, reason);
    if (reason > 5) this.log(`Unknown shutdown reason code ${reason}. Destroying domain.`);
    if (action === 'none') {
      this.log('Domain has suspended.');
      this.emit({ type: 'shutdown', domid, name, reason, action });
      return;
    }
    this.log(`Action for shutdown reason code ${reason} is ${action}`);
    this.emit({ type: 'shutdown', domid, name, reason, action });
    // txl writes no core dumps yet: coredump-* act as their plain counterparts.
    if (action === 'coredump-destroy') action = 'destroy';
    if (action === 'coredump-restart') action = 'restart';
    // Soft reset needs the builder's soft-reset path; until it exists, restart the guest.
    if (action === 'soft-reset') action = 'restart';

    this.events.remove(domid);
    switch (action) {
      case 'preserve':
        this.domains.delete(domid);
        this.log('Done. Exiting now');
        this.emit({ type: 'preserved', domid, name });
        return;
      case 'destroy':
        this.log(`Domain ${domid} needs to be cleaned up: destroying the domain`);
        this.domains.delete(domid);
        await this.destroy(domid);
        this.log('Done. Exiting now');
        this.emit({ type: 'destroyed', domid, name });
        return;
      case 'restart': {
        this.log(`Domain ${domid} needs to be cleaned up: destroying the domain`);
        this.domains.delete(domid);
        await this.destroy(domid);
        this.emit({ type: 'destroyed', domid, name });
        await this.restart(domain, domid);
        return;
      }
      case 'rename-restart': {
        const suffix = preserveSuffix(this.deps.now?.() ?? new Date());
        this.log(`Preserving domain ${domid} ${name} with suffix${suffix}`);
        await this.preserveRenamed(domid, name, `${name}${suffix}`);
        this.domains.delete(domid);
        this.emit({ type: 'preserved', domid, name, preservedAs: `${name}${suffix}` });
        await this.restart(domain, domid);
        return;
      }
    }
  }

  private async restart(domain: MonitoredDomain, oldDomid: number): Promise<void> {
    this.log('Done. Rebooting now');
    if (this.deps.restartDelayMs) await new Promise((r) => setTimeout(r, this.deps.restartDelayMs));
    const domid = await domain.recreate(domain.name);
    this.emit({ type: 'restarted', oldDomid, domid, name: domain.name });
    if (!this.stopped) this.add({ ...domain, domid });
  }

  /** libxl_domain_preserve: a new /vm/<uuid> for the old domain and its new name, in one transaction. */
  private async preserveRenamed(domid: number, oldName: string, newName: string): Promise<void> {
    const { store } = this.deps;
    const domPath = `/local/domain/${domid}`;
    const uuid = randomUUID();
    const vmPath = `/vm/${uuid}`;
    await store.transaction(async (tx) => {
      const current = await store.tryRead(`${domPath}/name`, tx);
      if (current !== oldName) throw new LifecycleError('TXL_LC_INVALID', `Allegedly named \`${oldName}' is actually named \`${current ?? ''}' - racing ?`);
      await store.rm(vmPath, tx).catch(() => undefined);
      await store.write(vmPath, '', tx);
      await store.write(`${domPath}/vm`, vmPath, tx);
      await store.write(`${domPath}/name`, newName, tx);
      await store.write(`${vmPath}/name`, newName, tx);
      await store.write(`${vmPath}/uuid`, uuid, tx);
      // roperm, as libxl_domain_preserve sets it: owned by dom0, readable by the guest.
      await store.setPermissions(vmPath, [{ domid: 0, access: 'n' }, { domid, access: 'r' }], tx);
    });
  }
}

/**
 * Looks after one domain in the calling process until it is destroyed, preserved or gone (following
 * it across restarts), like xl's per-domain monitor or `xl create -F`. Returns what happened.
 */
export async function superviseDomain(deps: MonitorDeps, domain: MonitoredDomain): Promise<MonitorEvent[]> {
  const events: MonitorEvent[] = [];
  const monitor = new DomainMonitor({ ...deps, onEvent: (e) => { events.push(e); deps.onEvent?.(e); } });
  try {
    monitor.add(domain);
    await monitor.idle();
  } finally {
    await monitor.stop();
  }
  return events;
}
