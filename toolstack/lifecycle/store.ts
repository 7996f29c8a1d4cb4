// The xenstore operations lifecycle code needs: the XenstoreClient subset, and a check that the CLI's
// store (which may be the simulator's state-file store) really provides them.
import type { XenstoreClient } from '../../xenstore/index.js';
import { LifecycleError } from './errors.js';

/** What lifecycle operations ask of xenstore (XenstoreClient fits; tests use it over MemoryXenstore). */
export type LifecycleStore = Pick<XenstoreClient, 'read' | 'tryRead' | 'write' | 'rm' | 'directory' | 'watch' | 'transaction' | 'setPermissions'>;

/** Returns `store` as a LifecycleStore, or throws TXL_LC_STORE naming what it lacks. */
export function asLifecycleStore(store: object): LifecycleStore {
  const missing = ['read', 'tryRead', 'write', 'rm', 'directory', 'watch', 'transaction', 'setPermissions'].filter(
    (m) => typeof (store as Record<string, unknown>)[m] !== 'function',
  );
  if (missing.length) {
    throw new LifecycleError('TXL_LC_STORE', `this xenstore connection cannot ${missing.join(', ')}, which the command needs`, {
      details: { missing },
      hint: 'Run the command in a Xen dom0 with xenstored; the simulator state-file backend only records names.',
    });
  }
  return store as LifecycleStore;
}
