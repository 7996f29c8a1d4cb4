// Lifecycle commands and the monitor on SimulatedHypervisor + MemoryXenstore (xenstored's
// @releaseDomain modelled by wiring the simulator's shutdown/release events to the store):
// txl shutdown/reboot [-w] [-F] [-a], rename, mem-set, mem-max, vcpu-set, sysrq, and on_* actions.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedHypervisor } from '../../hypervisor/index.js';
import { MemoryXenstore, XenstoreClient } from '../../xenstore/index.js';
import { makeCliContext, setCliContextFactory } from '../../toolstack/cli/table.js';
import { DomainMonitor, superviseDomain, type MonitorEvent, type ShutdownActions } from '../../toolstack/lifecycle/index.js';
import { runTxl } from './cli.test.js';

interface Env {
  sim: SimulatedHypervisor;
  mem: MemoryXenstore;
  xs: XenstoreClient;
  /** Clients opened for the guests (their own xenstore connections), closed after each test. */
  clients: XenstoreClient[];
}

let env: Env;

/** A PV-looking domain: vCPUs, memory, the xenstore nodes xl writes, introduced to xenstored. */
async function makeGuest(name: string, opts: { vcpus?: number; memMiB?: number; pvControl?: boolean } = {}): Promise<{ domid: number; uuid: string }> {
  const { sim, xs } = env;
  const vcpus = opts.vcpus ?? 2;
  const memKiB = BigInt((opts.memMiB ?? 64) * 1024);
  const uuid = crypto.randomUUID();
  const domid = await sim.createDomain({ maxVcpus: vcpus, uuid });
  await sim.setMaxVcpus(domid, vcpus);
  await sim.setMaxMem(domid, memKiB + 1024n);
  const base = `/local/domain/${domid}`;
  await xs.write(`${base}/name`, name);
  await xs.write(`${base}/vm`, `/vm/${uuid}`);
  await xs.write(`/vm/${uuid}/name`, name);
  await xs.write(`/vm/${uuid}/uuid`, uuid);
  await xs.write(`${base}/memory/static-max`, String(memKiB));
  await xs.write(`${base}/memory/target`, String(memKiB));
  await xs.write(`${base}/memory/videoram`, '0');
  for (let i = 0; i < vcpus; i++) await xs.write(`${base}/cpu/${i}/availability`, 'online');
  await xs.write(`${base}/control/shutdown`, '');
  await xs.write(`${base}/control/sysrq`, '');
  await xs.setPermissions(`${base}/control/shutdown`, [{ domid, access: 'n' }]);
  await xs.setPermissions(`${base}/control/sysrq`, [{ domid, access: 'n' }]);
  await xs.introduceDomain(domid, 0x1234n, 1);
  if (opts.pvControl) await startPvControl(domid);
  return { domid, uuid };
}

/** A guest's PV shutdown driver (Linux drivers/xen/manage.c): advertise, acknowledge, shut down. */
async function startPvControl(domid: number): Promise<void> {
  const guest = XenstoreClient.overMemory(env.mem, { domid });
  env.clients.push(guest);
  const base = `/local/domain/${domid}/control`;
  await env.xs.write(`${base}/feature-poweroff`, '1');
  await env.xs.write(`${base}/feature-reboot`, '1');
  const watch = guest.watch(`${base}/shutdown`, 'guest-shutdown');
  void (async () => {
    try {
      for await (const _e of watch) {
        const cmd = await guest.tryRead(`${base}/shutdown`);
        if (cmd !== 'poweroff' && cmd !== 'reboot') continue;
        await guest.write(`${base}/shutdown`, '');
        setTimeout(() => env.sim.injectShutdown(domid, cmd), 50);
      }
    } catch {
      // connection closed at the end of the test
    }
  })();
}

beforeEach(async () => {
  const sim = new SimulatedHypervisor({ xen: '4.17', nrCpus: 2 });
  const mem = new MemoryXenstore();
  // What xenstored sees of Xen: a shutdown fires @releaseDomain, a destroyed domain is released.
  sim.subscribe((e) => (e.type === 'shutdown' ? mem.shutdownXenDomain(e.domid) : mem.destroyXenDomain(e.domid)));
  const xs = XenstoreClient.overMemory(mem);
  await xs.write('/local/domain/0/name', 'Domain-0');
  env = { sim, mem, xs, clients: [] };
  setCliContextFactory(async () => makeCliContext(sim, async () => XenstoreClient.overMemory(mem), false));
});

afterEach(async () => {
  setCliContextFactory(undefined);
  for (const c of env.clients) await c.close();
  await env.xs.close();
});

describe('txl shutdown / reboot', () => {
  it('writes control/shutdown, waits for the guest to acknowledge, and -w waits for the shutdown', async () => {
    const { domid } = await makeGuest('web', { pvControl: true });
    const r = await runTxl(['shutdown', '-w', 'web']);
    expect(r.status).toBe(0);
    expect(r.err).toBe(`Shutting down domain ${domid}\nWaiting for 1 domains\nDomain ${domid} has been shut down, reason code 0\n`);
    const info = await env.sim.getDomainInfo(domid);
    expect(info.shutdown).toBe(true);
    expect(info.shutdownCode).toBe(0);
    expect(await env.xs.read(`/local/domain/${domid}/control/shutdown`)).toBe('');
  });

  it('reboot asks for reboot (reason 1); without -w it returns after the acknowledgement', async () => {
    const { domid } = await makeGuest('db', { pvControl: true });
    const r = await runTxl(['reboot', String(domid)]);
    expect(r.status).toBe(0);
    expect(r.err).toBe(`Rebooting domain ${domid}\n`);
    await new Promise((res) => setTimeout(res, 150));
    expect((await env.sim.getDomainInfo(domid)).shutdownCode).toBe(1);
  });

  it('-ww waits until the domain is gone', async () => {
    const { domid } = await makeGuest('web', { pvControl: true });
    const done = runTxl(['shutdown', '-ww', 'web']);
    // Someone (a monitor) destroys it after the shutdown.
    const events: string[] = [];
    env.sim.subscribe((e) => {
      events.push(e.type);
      if (e.type === 'shutdown') setTimeout(() => void env.sim.destroyDomain(domid), 50);
    });
    const r = await done;
    expect(r.status).toBe(0);
    expect(r.err).toContain(`Domain ${domid} has been shut down, reason code 0\nDomain ${domid} continue waiting for death\nDomain ${domid} has been destroyed\n`);
    expect(events).toEqual(['shutdown', 'released']);
  });

  it('a guest without PV control: -F asks Xen (SCHEDOP_remote_shutdown) at once', async () => {
    const { domid } = await makeGuest('mini');
    const started = Date.now();
    const r = await runTxl(['shutdown', '-F', '-w', 'mini']);
    expect(r.status).toBe(0);
    expect(r.err).toContain(`Shutting down domain ${domid}\nPV control interface not available: asking Xen to shut the domain down (SCHEDOP_remote_shutdown).\n`);
    expect(r.err).toContain(`Domain ${domid} has been shut down, reason code 0`);
    expect(Date.now() - started).toBeLessThan(5000);
    const reboot = await makeGuest('mini2');
    expect((await runTxl(['reboot', '-F', 'mini2'])).status).toBe(0);
    expect((await env.sim.getDomainInfo(reboot.domid)).shutdownCode).toBe(1);
  });

  it('a guest that never acknowledges fails like xl, and says what -F would do', async () => {
    const { domid } = await makeGuest('mini');
    process.env.TXL_PVCONTROL_TIMEOUT_MS = '300';
    try {
      const r = await runTxl(['shutdown', 'mini']);
      expect(r.status).toBe(1);
      expect(r.err).toContain(`Shutting down domain ${domid}\n`);
      expect(r.err).toContain("guest didn't acknowledge control request");
      expect(r.err).toContain('-F');
      expect((await env.sim.getDomainInfo(domid)).shutdown).toBe(false);
      // The request stays in control/shutdown, as libxl leaves it.
      expect(await env.xs.read(`/local/domain/${domid}/control/shutdown`)).toBe('poweroff');
    } finally {
      delete process.env.TXL_PVCONTROL_TIMEOUT_MS;
    }
  });

  it('-a shuts down every guest but dom0; -a or a domain is required', async () => {
    const a = await makeGuest('a', { pvControl: true });
    const b = await makeGuest('b', { pvControl: true });
    const r = await runTxl(['shutdown', '-a', '-w']);
    expect(r.status).toBe(0);
    expect(r.err).toContain('Waiting for 2 domains');
    expect((await env.sim.getDomainInfo(a.domid)).shutdown).toBe(true);
    expect((await env.sim.getDomainInfo(b.domid)).shutdown).toBe(true);
    expect((await env.sim.getDomainInfo(0)).shutdown).toBe(false);
    const none = await runTxl(['shutdown']);
    expect(none.status).toBe(1);
    expect(none.err).toContain('You must specify -a or a domain id.');
  });

  it('-w registers its @releaseDomain watch before asking, so a guest destroyed at once is still seen shut down', async () => {
    // xl enables the death events after each request; with -F Xen shuts the guest down within the
    // call and the monitor (on_poweroff="destroy") may destroy it before a later watch could look.
    const { domid } = await makeGuest('mini');
    const order: string[] = [];
    const remoteShutdown = env.sim.remoteShutdown.bind(env.sim);
    env.sim.remoteShutdown = async (id, reason) => {
      order.push(`remoteShutdown ${id} ${reason}`);
      return remoteShutdown(id, reason);
    };
    setCliContextFactory(async () =>
      makeCliContext(env.sim, async () => {
        const store = XenstoreClient.overMemory(env.mem);
        const watch = store.watch.bind(store);
        store.watch = (path, token) => {
          const w = watch(path, token);
          void w.ready.then(() => order.push(`watch ${path} acknowledged`));
          return w;
        };
        return store;
      }, false));
    const r = await runTxl(['shutdown', '-F', '-w', 'mini']);
    expect(r.status).toBe(0);
    expect(order).toEqual(['watch @releaseDomain acknowledged', `remoteShutdown ${domid} poweroff`]);
    expect(r.err).toContain(`Waiting for 1 domains\nDomain ${domid} has been shut down, reason code 0\n`);
    // Without -w nothing is watched.
    order.length = 0;
    const other = await makeGuest('mini2');
    expect((await runTxl(['reboot', '-F', 'mini2'])).status).toBe(0);
    expect(order).toEqual([`remoteShutdown ${other.domid} reboot`]);
  });

  it('-a -w with no guest returns at once (xl: nothing to wait for)', async () => {
    const r = await runTxl(['shutdown', '-a', '-w']);
    expect(r.status).toBe(0);
    expect(r.err).toBe('Waiting for 0 domains\n');
  });

  it('an unknown domain is an error', async () => {
    const r = await runTxl(['shutdown', 'nope']);
    expect(r.status).toBe(1);
    expect(r.err).toContain("domain 'nope' does not exist");
  });
});

describe('txl rename, sysrq', () => {
  it('renames in /local/domain/N/name and /vm/<uuid>/name, refusing a taken name', async () => {
    const { domid, uuid } = await makeGuest('old');
    await makeGuest('other');
    expect((await runTxl(['rename', 'old', 'new'])).status).toBe(0);
    expect(await env.xs.read(`/local/domain/${domid}/name`)).toBe('new');
    expect(await env.xs.read(`/vm/${uuid}/name`)).toBe('new');
    const taken = await runTxl(['rename', 'new', 'other']);
    expect(taken.status).toBe(1);
    expect(taken.err).toContain('Domain with name "other" already exists.');
    expect(taken.err).toContain("Can't rename domain 'new'.");
    expect(await env.xs.read(`/local/domain/${domid}/name`)).toBe('new');
    expect((await runTxl(['rename', String(domid), 'new'])).status).toBe(0);
  });

  it('sysrq writes one letter to control/sysrq and refuses more', async () => {
    const { domid } = await makeGuest('web');
    expect((await runTxl(['sysrq', 'web', 's'])).status).toBe(0);
    expect(await env.xs.read(`/local/domain/${domid}/control/sysrq`)).toBe('s');
    const bad = await runTxl(['sysrq', 'web', 'sb']);
    expect(bad.status).toBe(1);
    expect(bad.err).toContain('Invalid sysrq.');
  });
});

describe('txl mem-set, mem-max, vcpu-set', () => {
  it('mem-set writes the target and /vm memory, and moves Xen max_mem to target + 1024 KiB', async () => {
    const { domid, uuid } = await makeGuest('web', { memMiB: 256 });
    expect((await runTxl(['mem-set', 'web', '128m'])).status).toBe(0);
    expect(await env.xs.read(`/local/domain/${domid}/memory/target`)).toBe('131072');
    expect(await env.xs.read(`/vm/${uuid}/memory`)).toBe('128');
    expect((await env.sim.getDomainInfo(domid)).maxPages).toBe((131072n + 1024n) / 4n);
    expect((await runTxl(['mem-set', 'web', '196608k'])).status).toBe(0);
    expect(await env.xs.read(`/local/domain/${domid}/memory/target`)).toBe('196608');
    const over = await runTxl(['mem-set', 'web', '1g']);
    expect(over.status).toBe(1);
    expect(over.err).toContain(`cannot set domid ${domid} dynamic max memory to : 1g`);
    expect(await env.xs.read(`/local/domain/${domid}/memory/target`)).toBe('196608');
    const bad = await runTxl(['mem-set', 'web', '12q']);
    expect(bad.status).toBe(1);
    expect(bad.err).toContain('invalid memory size: 12q');
  });

  it('mem-max raises static-max and Xen max_mem, and refuses going below the target', async () => {
    const { domid } = await makeGuest('web', { memMiB: 256 });
    expect((await runTxl(['mem-max', 'web', '1g'])).status).toBe(0);
    expect(await env.xs.read(`/local/domain/${domid}/memory/static-max`)).toBe('1048576');
    expect((await env.sim.getDomainInfo(domid)).maxPages).toBe((1048576n + 1024n) / 4n);
    expect((await runTxl(['mem-set', 'web', '1g'])).status).toBe(0);
    const low = await runTxl(['mem-max', 'web', '512']);
    expect(low.status).toBe(1);
    expect(low.err).toContain(`cannot set domid ${domid} static max memory to : 512`);
  });

  it('vcpu-set marks cpu/N/availability online/offline and refuses 0 or more than the domain has', async () => {
    const { domid } = await makeGuest('web', { vcpus: 2 });
    expect((await runTxl(['vcpu-set', 'web', '1'])).status).toBe(0);
    expect(await env.xs.read(`/local/domain/${domid}/cpu/0/availability`)).toBe('online');
    expect(await env.xs.read(`/local/domain/${domid}/cpu/1/availability`)).toBe('offline');
    expect((await runTxl(['vcpu-set', 'web', '2'])).status).toBe(0);
    expect(await env.xs.read(`/local/domain/${domid}/cpu/1/availability`)).toBe('online');
    const zero = await runTxl(['vcpu-set', 'web', '0']);
    expect(zero.status).toBe(1);
    expect(zero.err).toContain('Requested 0 VCPUs!');
    const many = await runTxl(['vcpu-set', '-i', 'web', '3']);
    expect(many.status).toBe(1);
    expect(many.err).toContain('Requested 3 VCPUs, however maxcpus is 2!');
    const bad = await runTxl(['vcpu-set', 'web', 'x']);
    expect(bad.status).toBe(1);
    expect(bad.err).toContain('Error: Invalid argument.');
  });

  it('vcpu-set refuses overcommitting the host unless -i', async () => {
    await makeGuest('big', { vcpus: 4 });
    await runTxl(['vcpu-set', '-i', 'big', '1']);
    const over = await runTxl(['vcpu-set', 'big', '3']);
    expect(over.status).toBe(1);
    expect(over.err).toContain('You are overcommmitting! You have 2 physical CPUs and want 3 vCPUs!');
    expect((await runTxl(['vcpu-set', '--ignore-host', 'big', '3'])).status).toBe(0);
  });
});

describe('the domain monitor (on_poweroff / on_reboot / on_crash)', () => {
  const actions = (over: Partial<ShutdownActions> = {}): ShutdownActions => ({ onPoweroff: 'destroy', onReboot: 'restart', onCrash: 'destroy', ...over });

  async function monitorWith(recreate: (name: string) => Promise<number>): Promise<{ monitor: DomainMonitor; events: MonitorEvent[]; log: string[] }> {
    const events: MonitorEvent[] = [];
    const log: string[] = [];
    const store = XenstoreClient.overMemory(env.mem);
    env.clients.push(store);
    const monitor = new DomainMonitor({ hv: env.sim, store, onEvent: (e) => events.push(e), log: (l) => log.push(l), now: () => new Date(Date.UTC(2026, 10, 23, 9, 5)) });
    void recreate;
    return { monitor, events, log };
  }

  async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('poweroff with on_poweroff=destroy: the domain and its nodes are gone', async () => {
    const { domid, uuid } = await makeGuest('web');
    const { monitor, events, log } = await monitorWith(async () => -1);
    monitor.add({ domid, name: 'web', actions: actions(), recreate: async () => { throw new Error('must not restart'); } });
    env.sim.injectShutdown(domid, 'poweroff');
    await monitor.idle();
    expect(await env.sim.findDomain(domid)).toBeUndefined();
    expect(await env.xs.tryRead(`/local/domain/${domid}/name`)).toBeUndefined();
    expect(await env.xs.tryRead(`/vm/${uuid}/name`)).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(['shutdown', 'destroyed']);
    expect(log).toEqual([
      `Domain ${domid} has shut down, reason code 0 0x0`,
      'Action for shutdown reason code 0 is destroy',
      `Domain ${domid} needs to be cleaned up: destroying the domain`,
      'Done. Exiting now',
    ]);
    await monitor.stop();
  });

  it('reboot with on_reboot=restart: destroyed, re-created under the same name, and followed', async () => {
    const first = await makeGuest('web');
    const created: number[] = [];
    const { monitor, events } = await monitorWith(async () => -1);
    const recreate = async (name: string): Promise<number> => {
      const again = await makeGuest(name);
      created.push(again.domid);
      return again.domid;
    };
    monitor.add({ domid: first.domid, name: 'web', actions: actions(), recreate });
    env.sim.injectShutdown(first.domid, 'reboot');
    await until('the restart', () => created.length === 1 && monitor.watched.has(created[0]!));
    expect(await env.sim.findDomain(first.domid)).toBeUndefined();
    const second = created[0]!;
    expect(await env.xs.read(`/local/domain/${second}/name`)).toBe('web');
    expect(events.map((e) => e.type)).toEqual(['shutdown', 'destroyed', 'restarted']);
    // The new domain is watched too: a crash with on_crash=destroy ends it.
    env.sim.injectShutdown(second, 'crash');
    await monitor.idle();
    expect(await env.sim.findDomain(second)).toBeUndefined();
    expect(events.at(-1)).toMatchObject({ type: 'destroyed', domid: second });
    await monitor.stop();
  });

  it('crash with on_crash=preserve leaves the domain shut down (state c)', async () => {
    const { domid } = await makeGuest('web');
    const { monitor, events } = await monitorWith(async () => -1);
    monitor.add({ domid, name: 'web', actions: actions({ onCrash: 'preserve' }), recreate: async () => -1 });
    env.sim.injectShutdown(domid, 'crash');
    await monitor.idle();
    const info = await env.sim.getDomainInfo(domid);
    expect(info.shutdown && info.shutdownCode).toBe(3);
    expect(await env.xs.read(`/local/domain/${domid}/name`)).toBe('web');
    expect(events.map((e) => e.type)).toEqual(['shutdown', 'preserved']);
    await monitor.stop();
    await env.sim.destroyDomain(domid);
  });

  it('rename-restart keeps the old domain as NAME-<time> with a new /vm and starts a new one', async () => {
    const { domid, uuid } = await makeGuest('web');
    let newDomid = -1;
    const { monitor, events, log } = await monitorWith(async () => -1);
    monitor.add({ domid, name: 'web', actions: actions({ onCrash: 'rename-restart' }), recreate: async (name) => (newDomid = (await makeGuest(name)).domid) });
    env.sim.injectShutdown(domid, 'crash');
    await until('the restart', () => newDomid !== -1 && monitor.watched.has(newDomid));
    expect(await env.xs.read(`/local/domain/${domid}/name`)).toBe('web-20261123T0905Z');
    const vm = await env.xs.read(`/local/domain/${domid}/vm`);
    expect(vm).not.toBe(`/vm/${uuid}`);
    expect(await env.xs.read(`${vm}/name`)).toBe('web-20261123T0905Z');
    expect(await env.xs.getPermissions(vm)).toEqual([{ domid: 0, access: 'n' }, { domid, access: 'r' }]);
    expect(await env.xs.read(`/local/domain/${newDomid}/name`)).toBe('web');
    expect((await env.sim.getDomainInfo(domid)).shutdownCode).toBe(3);
    expect(log).toContain(`Preserving domain ${domid} web with suffix-20261123T0905Z`);
    expect(events.map((e) => e.type)).toEqual(['shutdown', 'preserved', 'restarted']);
    monitor.remove(newDomid);
    await monitor.stop();
    await env.sim.destroyDomain(domid);
    await env.sim.destroyDomain(newDomid);
  });

  it('a domain destroyed from outside ends its watch; an already shut down domain is handled on add', async () => {
    const a = await makeGuest('a');
    const { monitor, events } = await monitorWith(async () => -1);
    monitor.add({ domid: a.domid, name: 'a', actions: actions(), recreate: async () => -1 });
    await env.sim.destroyDomain(a.domid);
    await monitor.idle();
    expect(events).toEqual([{ type: 'gone', domid: a.domid, name: 'a' }]);
    const b = await makeGuest('b');
    env.sim.injectShutdown(b.domid, 'poweroff');
    monitor.add({ domid: b.domid, name: 'b', actions: actions(), recreate: async () => -1 });
    await monitor.idle();
    expect(await env.sim.findDomain(b.domid)).toBeUndefined();
    await monitor.stop();
  });

  it('a failed restart is reported and the monitor carries on with other domains', async () => {
    const a = await makeGuest('a');
    const b = await makeGuest('b');
    const { monitor, events } = await monitorWith(async () => -1);
    monitor.add({ domid: a.domid, name: 'a', actions: actions(), recreate: async () => { throw new Error('no kernel'); } });
    monitor.add({ domid: b.domid, name: 'b', actions: actions(), recreate: async () => -1 });
    env.sim.injectShutdown(a.domid, 'reboot');
    await until('the error', () => events.some((e) => e.type === 'error'));
    env.sim.injectShutdown(b.domid, 'poweroff');
    await monitor.idle();
    expect(await env.sim.findDomain(b.domid)).toBeUndefined();
    await monitor.stop();
  });

  it('superviseDomain follows one domain across a reboot until its poweroff (create -F)', async () => {
    const first = await makeGuest('web', { pvControl: true });
    const store = XenstoreClient.overMemory(env.mem);
    env.clients.push(store);
    const domids: number[] = [first.domid];
    const supervised = superviseDomain({ hv: env.sim, store }, {
      domid: first.domid, name: 'web', actions: actions(),
      recreate: async (name) => {
        const again = await makeGuest(name, { pvControl: true });
        domids.push(again.domid);
        // The new guest powers itself off after its "boot".
        setTimeout(() => env.sim.injectShutdown(again.domid, 'poweroff'), 100);
        return again.domid;
      },
    });
    expect((await runTxl(['reboot', 'web'])).status).toBe(0);
    const events = await supervised;
    expect(events.map((e) => e.type)).toEqual(['shutdown', 'destroyed', 'restarted', 'shutdown', 'destroyed']);
    expect(domids).toHaveLength(2);
    for (const domid of domids) expect(await env.sim.findDomain(domid)).toBeUndefined();
  });
});
