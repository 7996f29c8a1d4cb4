// Destroying a domain with everything it has (libxl__destroy_domid): its devices (vif out of the
// bridge, backend/frontend nodes, loop devices), its console backend, /vm/<uuid>, /local/domain/N and
// /libxl/N, then the domain in Xen. Idempotent, and works on a half-built domain or one already gone.
import { messageOf } from '../../common/errors.js';
import type { Hypervisor } from '../../hypervisor/index.js';
import { teardownDomainDevices, type HotplugHost } from '../devices/index.js';
import { OperationError } from './errors.js';
import { removeDomainUserdata } from './userdata.js';

/** The xenstore operations destroy needs (the CLI's DomainStore has them, the state-file store too). */
export interface DestroyStore {
  tryRead(path: string): Promise<string | undefined>;
  directory(path: string): Promise<string[]>;
  rm(path: string): Promise<void>;
}

/** What destroy runs against. */
export interface DestroyDeps {
  readonly hypervisor: Hypervisor;
  readonly store: DestroyStore;
  readonly hotplug: HotplugHost;
  /** libxl's userdata directory (/var/lib/xen): the domain's files there go too (libxl__userdata_destroyall). */
  readonly userdataDir?: string | undefined;
}

/**
 * Destroys domain `domid` and removes what it had. A domain Xen no longer knows is not an error (its
 * leftovers are removed all the same). Throws TXL_DESTROY_INCOMPLETE naming what could not be removed.
 */
export async function destroyDomainFully(deps: DestroyDeps, domid: number): Promise<void> {
  const { hypervisor: hv, store } = deps;
  const domPath = `/local/domain/${domid}`;
  // Read before the domain (and xenstored's view of it) goes away.
  const vmPath = await store.tryRead(`${domPath}/vm`).catch(() => undefined);
  await hv.pause(domid).catch(() => undefined);
  // libxl's order (libxl__destroy_domid, devices_destroy_cb): the devices first, while the domain
  // still exists, then its xenstore directories, then the domain itself. Whoever waits for the domain
  // to die (`shutdown -ww`, `xl list`) then finds its loop devices freed, its vifs out of the bridge
  // and its nodes gone.
  const problems = await teardownDomainDevices(store, deps.hotplug, domid);
  const rm = async (path: string): Promise<void> => {
    try {
      await store.rm(path);
    } catch (error) {
      if ((error as { errno?: string }).errno !== 'ENOENT') problems.push(`${path}: ${messageOf(error)}`);
    }
  };
  await rm(`/local/domain/0/backend/console/${domid}`);
  await rm(`/local/domain/0/backend/vbd/${domid}`);
  await rm(`/local/domain/0/backend/vif/${domid}`);
  if (vmPath) await rm(vmPath);
  await rm(domPath);
  await rm(`/libxl/${domid}`);
  if (deps.userdataDir !== undefined) {
    await removeDomainUserdata(deps.userdataDir, domid).catch((error: unknown) => problems.push(`saved config: ${messageOf(error)}`));
  }
  await hv.destroyDomain(domid).catch(async (error: unknown) => {
    if (await hv.findDomain(domid)) throw error;
  });
  if (problems.length) {
    throw new OperationError('TXL_DESTROY_INCOMPLETE', `domain ${domid} was destroyed but some of what it had could not be removed: ${problems.join('; ')}`, {
      details: { domid, leftovers: problems },
    });
  }
}
