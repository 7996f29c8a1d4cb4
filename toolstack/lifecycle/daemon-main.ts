// Process entry of the host monitor (started by client.ts spawnMonitorDaemon, detached, with the
// listening socket as fd TXL_MONITOR_FD): opens the hypervisor and xenstore, runs MonitorDaemon until
// it goes idle, re-creating restarted guests through the create plan and executor. Logs to stdout
// (the log file the client opened), one timestamped line each.
import { messageOf } from '../../common/errors.js';
import { MonitorDaemon, DEFAULT_MONITOR_IDLE_MS } from './daemon.js';
import { monitorDir } from './registry.js';
import { asLifecycleStore } from './store.js';

const log = (line: string): void => {
  process.stdout.write(`${new Date().toISOString()} [${process.pid}] ${line}\n`);
};

// A failure nobody awaits (the xenstore connection dropping under the monitor's watch) ends the
// process with a log line; the records stay, and the next `txl create` starts a monitor that takes
// every registered domain back.
process.on('unhandledRejection', (error) => {
  log(`monitor failed: ${messageOf(error)}`);
  process.exit(1);
});

const env = process.env;
const fd = Number(env.TXL_MONITOR_FD ?? '3');
const idleText = env.TXL_MONITOR_IDLE_MS;
const idleMs = idleText && /^\d+$/.test(idleText) ? Number(idleText) : DEFAULT_MONITOR_IDLE_MS;

// No top-level await: dist/bundle is built from this file as CommonJS (toolstack/cli/bundle.ts).
async function run(): Promise<void> {
  try {
    const { openCliContext } = await import('../cli/table.js');
    const { XenstoreClient } = await import('../../xenstore/index.js');
    const { planCreate, executeCreate, destroyDomainFully } = await import('../operations/index.js');
    const { defaultHotplugHost } = await import('../devices/index.js');
    const hotplug = await defaultHotplugHost();
    const ctx = await openCliContext(env);
    const store = await ctx.store();
    if (!(store instanceof XenstoreClient)) throw new Error('the domain monitor needs xenstored (not the simulator state file)');
    const daemon = await MonitorDaemon.start({
      hv: ctx.hv,
      store: asLifecycleStore(store),
      dir: monitorDir(env),
      listen: { fd },
      idleMs,
      log,
      // As `txl destroy` does: the domain, its xenstore nodes and its devices (loop devices, bridge ports).
      destroy: (domid) => destroyDomainFully({ hypervisor: ctx.hv, store, hotplug, userdataDir: ctx.userdataDir }, domid),
      recreate: async (config, name) => {
        // The record's config is the resolved DomainConfig `txl create` booted (kernel set).
        const input = { ...config, name } as unknown as Parameters<typeof planCreate>[0];
        if (typeof input.kernel !== 'string') throw new Error(`cannot re-create ${name}: its record has no kernel`);
        const saveConfig = ctx.userdataDir !== undefined ? ({ ...config, name } as unknown as NonNullable<Parameters<typeof planCreate>[1]>['saveConfig']) : undefined;
        const result = await executeCreate(planCreate(input, { paused: false, saveConfig }), { hypervisor: ctx.hv, xenstore: store, hotplug, userdataDir: ctx.userdataDir });
        log(`Domain ${name} re-created as domid ${result.domid}`);
        return result.domid;
      },
    });
    log(`monitor started (idle exit after ${idleMs} ms); looking after ${daemon.domains().map((d) => `${d.name}(${d.domid})`).join(', ') || 'nothing yet'}`);
    const stop = (): void => void daemon.stop();
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    await daemon.closed;
    await ctx.close();
    log('monitor exited');
    process.exit(0);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    log(`monitor failed: ${messageOf(error)}${code ? ` (${code})` : ''}`);
    process.exit(1);
  }
}
void run();
