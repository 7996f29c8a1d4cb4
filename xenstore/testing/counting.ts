// Test support: a XenstoreClient that counts how often its transactions run their body, so a test can
// tell a transaction that committed first time from one xenstored failed with EAGAIN and was retried;
// and a meeting point that holds transactions of several clients open together, so that they overlap
// (in memory, one client's transaction otherwise often ends before another's begins).
import type { XenstoreClient } from '../client.js';

/** Where `parties` transactions wait for each other (at most `timeoutMs`, so a lone retry goes on). */
export interface Meeting {
  arrive(): Promise<void>;
}

export function meeting(parties: number, timeoutMs = 50): Meeting {
  let waiting: (() => void)[] = [];
  return {
    arrive: () => new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length === parties) {
        const all = waiting;
        waiting = [];
        for (const go of all) go();
        return;
      }
      setTimeout(() => {
        waiting = waiting.filter((w) => w !== resolve);
        resolve();
      }, timeoutMs);
    }),
  };
}

/**
 * `client` with transaction() counting attempts (1 per transaction when nothing conflicts); with
 * `meet`, each attempt, once started in xenstored, waits there for the other parties' before its body.
 */
export function countingTransactions(client: XenstoreClient, meet?: Meeting): { store: XenstoreClient; attempts: () => number } {
  let n = 0;
  const store = new Proxy(client, {
    get(target, prop) {
      if (prop === 'transaction') {
        const wrapped: XenstoreClient['transaction'] = (fn, opts) => target.transaction(async (tx) => {
          n++;
          await meet?.arrive();
          return fn(tx);
        }, opts);
        return wrapped;
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, attempts: () => n };
}
