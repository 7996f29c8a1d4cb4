// Domain shutdown and death events the way libxl derives them (domain_death_xswatch_callback): a watch
// on @releaseDomain (xenstored fires it when an introduced domain shuts down, crashes or goes away),
// and on each event getdomaininfo of the domains of interest: gone or dying = death; the shutdown flag
// = shutdown with its reason code, reported once per domain.
import type { Hypervisor } from '../../hypervisor/index.js';
import { LifecycleError } from './errors.js';
import type { LifecycleStore } from './store.js';

/** SHUTDOWN_* reason codes (xen/include/public/sched.h) by name, for messages. */
export const SHUTDOWN_REASON_NAMES = ['poweroff', 'reboot', 'suspend', 'crash', 'watchdog', 'soft_reset'] as const;

/** One event about a watched domain. */
export type DomainEvent =
  | { readonly type: 'shutdown'; readonly domid: number; readonly reason: number }
  | { readonly type: 'death'; readonly domid: number };

/**
 * Checks the watched domains once: returns the new events (a domain's shutdown is reported once;
 * `reported` remembers it). Domains found dead are removed from `domids`.
 */
export async function checkDomains(hv: Hypervisor, domids: Set<number>, reported: Set<number>): Promise<DomainEvent[]> {
  const events: DomainEvent[] = [];
  for (const domid of [...domids]) {
    const info = await hv.findDomain(domid);
    if (!info || info.dying) {
      domids.delete(domid);
      reported.delete(domid);
      events.push({ type: 'death', domid });
    } else if (info.shutdown && !reported.has(domid)) {
      reported.add(domid);
      events.push({ type: 'shutdown', domid, reason: info.shutdownCode ?? 0 });
    } else if (!info.shutdown) {
      // Running again (e.g. a soft reset): a later shutdown is new.
      reported.delete(domid);
    }
  }
  return events;
}

/** A stream of DomainEvents for a changing set of domains. */
export interface DomainEventWatch extends AsyncIterable<DomainEvent> {
  /** Starts reporting `domid` (checked at once). */
  add(domid: number): void;
  /** Stops reporting `domid`. */
  remove(domid: number): void;
  /** Forgets that `domid`'s shutdown was reported (after a restart under the same domid, which Xen never does, or tests). */
  readonly domids: ReadonlySet<number>;
  /** Resolves once xenstored acknowledged the @releaseDomain watch (rejects if it refused it). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Watches @releaseDomain and yields events for the domains added (initially `domids`). The first check
 * runs when the watch is registered, so a domain already shut down is reported at once. `pollMs`
 * (default off) adds a periodic check as a safety net for stores that miss events.
 */
export function watchDomainEvents(hv: Hypervisor, store: LifecycleStore, domids: Iterable<number>, opts: { pollMs?: number } = {}): DomainEventWatch {
  const watched = new Set(domids);
  const reported = new Set<number>();
  const queue: DomainEvent[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  let failure: unknown;
  const watch = store.watch('@releaseDomain', `txl-release-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  let checking: Promise<void> = Promise.resolve();
  const check = (): void => {
    checking = checking.then(async () => {
      if (closed) return;
      try {
        queue.push(...(await checkDomains(hv, watched, reported)));
      } catch (error) {
        failure = error;
      }
      wake?.();
    });
  };
  void (async () => {
    try {
      for await (const _event of watch) check();
    } catch (error) {
      if (!closed) failure = error;
    }
    if (!closed) failure ??= new LifecycleError('TXL_LC_WAIT', 'the @releaseDomain watch ended (xenstore connection closed?)');
    wake?.();
  })();
  const timer = opts.pollMs ? setInterval(check, opts.pollMs) : undefined;
  timer?.unref();
  const close = async (): Promise<void> => {
    closed = true;
    if (timer) clearInterval(timer);
    wake?.();
    await watch.close().catch(() => undefined);
  };
  return {
    get domids() {
      return watched;
    },
    ready: watch.ready,
    add(domid) {
      watched.add(domid);
      check();
    },
    remove(domid) {
      watched.delete(domid);
      reported.delete(domid);
    },
    close,
    [Symbol.asyncIterator](): AsyncIterator<DomainEvent> {
      return {
        next: async () => {
          for (;;) {
            const event = queue.shift();
            if (event) return { value: event, done: false };
            if (closed) return { value: undefined, done: true };
            if (failure !== undefined) throw failure;
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
          }
        },
        return: async () => {
          await close();
          return { value: undefined, done: true };
        },
      };
    },
  };
}

/** Domains being watched for `waitForDomains`, set up before anything is asked of them. */
export interface DomainWaiter {
  /**
   * Waits until each domain has shut down (`untilDeath` false, -w) or is gone (true, -ww), calling
   * `log` with xl's lines ("Waiting for 2 domains", "Domain 5 has been shut down, reason code 0").
   * Closes the watch when done.
   */
  wait(untilDeath: boolean, log?: (line: string) => void): Promise<void>;
  /** Stops watching (idempotent): for a caller that gives up before `wait`. */
  close(): Promise<void>;
}

/**
 * Registers the @releaseDomain watch for `domids` and resolves once xenstored has acknowledged it, so
 * every shutdown asked for after this is seen while the domain still exists. xl enables its death
 * events only after each shutdown request: a guest that a monitor destroys at once (on_poweroff =
 * "destroy", `SCHEDOP_remote_shutdown` shuts it down within the call) could be gone before the watch
 * was even registered, and -w reported "destroyed" instead of the shutdown.
 */
export async function startWaitingForDomains(hv: Hypervisor, store: LifecycleStore, domids: readonly number[]): Promise<DomainWaiter> {
  const events = watchDomainEvents(hv, store, domids);
  try {
    await events.ready;
  } catch (error) {
    await events.close();
    throw error;
  }
  return {
    close: () => events.close(),
    async wait(untilDeath, log = () => undefined) {
      log(`Waiting for ${domids.length} domains`);
      let count = 0;
      try {
        if (domids.length === 0) return;
        for await (const event of events) {
          if (event.type === 'death') {
            log(`Domain ${event.domid} has been destroyed`);
            count++;
          } else {
            log(`Domain ${event.domid} has been shut down, reason code ${event.reason}`);
            if (!untilDeath) {
              events.remove(event.domid);
              count++;
            } else {
              log(`Domain ${event.domid} continue waiting for death`);
            }
          }
          if (count >= domids.length) break;
        }
      } finally {
        await events.close();
      }
    },
  };
}

/**
 * xl shutdown/reboot -w: waits until each domain has shut down (`untilDeath` false, -w) or is gone
 * (true, -ww), calling `log` with xl's lines ("Domain 5 has been shut down, reason code 0").
 * To also catch what happens right after a request, use `startWaitingForDomains` before making it.
 */
export async function waitForDomains(
  hv: Hypervisor, store: LifecycleStore, domids: readonly number[], untilDeath: boolean, log: (line: string) => void = () => undefined,
): Promise<void> {
  return (await startWaitingForDomains(hv, store, domids)).wait(untilDeath, log);
}
