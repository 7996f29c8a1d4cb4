// The host monitor (toolstack/lifecycle daemon.ts, client.ts, registry.ts) on SimulatedHypervisor +
// MemoryXenstore: `txl create`'s registration starting a monitor when none listens and reusing a
// running one, records following restarts, domains destroyed by someone else, a monitor restart
// picking up the records, refusals, and the exit once nothing is left to look after.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedHypervisor } from '../../hypervisor/index.js';
import { MemoryXenstore, XenstoreClient } from '../../xenstore/index.js';
import {
  MonitorDaemon, askMonitor, registerWithMonitor, type MonitorRecord, type RegisterOptions, type ShutdownActions,
} from '../../toolstack/lifecycle/index.js';

let sim: SimulatedHypervisor;
let mem: MemoryXenstore;
let xs: XenstoreClient;
let dir: string;
let socketPath: string;
let daemons: MonitorDaemon[];
let recreated: { name: string; config: unknown; domid: number }[];
let logs: string[];

async function makeGuest(name: string): Promise<number> {
  const uuid = crypto.randomUUID();
  const domid = await sim.createDomain({ maxVcpus: 1, uuid });
  await sim.setMaxVcpus(domid, 1);
  await xs.write(`/local/domain/${domid}/name`, name);
  await xs.write(`/local/domain/${domid}/vm`, `/vm/${uuid}`);
  await xs.write(`/vm/${uuid}/name`, name);
  await xs.introduceDomain(domid, 0x1234n, 1);
  return domid;
}

const actions = (over: Partial<ShutdownActions> = {}): ShutdownActions => ({ onPoweroff: 'destroy', onReboot: 'restart', onCrash: 'destroy', ...over });
const record = (domid: number, name: string, over: Partial<ShutdownActions> = {}): MonitorRecord => ({
  domid, name, actions: actions(over), config: { name, kernel: '/boot/k', memoryMiB: 32 },
});

/** A monitor in this process, as daemon-main.ts runs it, re-creating through makeGuest. */
async function startDaemon(listen: { server: net.Server } | { path: string }, idleMs = 60_000): Promise<MonitorDaemon> {
  const store = XenstoreClient.overMemory(mem);
  const daemon = await MonitorDaemon.start({
    hv: sim, store, dir, listen, idleMs, log: (l) => logs.push(l),
    recreate: async (config, name) => {
      const domid = await makeGuest(name);
      recreated.push({ name, config, domid });
      return domid;
    },
  });
  daemons.push(daemon);
  void daemon.closed.then(() => store.close());
  return daemon;
}

const opts = (over: Partial<RegisterOptions> = {}): RegisterOptions => ({
  dir, socketPath, startDaemon: async (server) => (await startDaemon({ server }), undefined), replyTimeoutMs: 5000, ...over,
});

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const records = (): string[] => readdirSync(dir).sort();

beforeEach(async () => {
  sim = new SimulatedHypervisor({ xen: '4.17', nrCpus: 2 });
  mem = new MemoryXenstore();
  sim.subscribe((e) => (e.type === 'shutdown' ? mem.shutdownXenDomain(e.domid) : mem.destroyXenDomain(e.domid)));
  xs = XenstoreClient.overMemory(mem);
  await xs.write('/local/domain/0/name', 'Domain-0');
  dir = mkdtempSync(join(tmpdir(), 'txl-monitor-test-'));
  socketPath = `\0txl-monitor-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
  daemons = [];
  recreated = [];
  logs = [];
});

afterEach(async () => {
  for (const d of daemons) await d.stop();
  await xs.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the host monitor', () => {
  it('the first registration starts it; the next ones are added over its socket', async () => {
    const a = await makeGuest('a');
    const b = await makeGuest('b');
    let starts = 0;
    const first = await registerWithMonitor(record(a, 'a'), opts({ startDaemon: async (server) => (starts++, await startDaemon({ server }), undefined) }));
    expect(first.how).toBe('started');
    const second = await registerWithMonitor(record(b, 'b'), opts({ startDaemon: async () => { throw new Error('a monitor is running: must not start another'); } }));
    expect(second).toEqual({ how: 'added', pid: process.pid });
    expect(starts).toBe(1);
    const status = await askMonitor(socketPath, { op: 'status' });
    expect(status).toEqual({ ok: true, pid: process.pid, domains: [{ domid: a, name: 'a' }, { domid: b, name: 'b' }] });
    expect(records()).toEqual([`${a}.json`, `${b}.json`]);
    expect(JSON.parse(readFileSync(join(dir, `${a}.json`), 'utf8'))).toEqual(record(a, 'a'));
  });

  it('concurrent registrations with no monitor running start exactly one', async () => {
    const domids = await Promise.all(['c0', 'c1', 'c2', 'c3', 'c4'].map(makeGuest));
    let starts = 0;
    const start = async (server: net.Server): Promise<undefined> => {
      starts++;
      await startDaemon({ server });
      return undefined;
    };
    const outcomes = await Promise.all(domids.map((d, i) => registerWithMonitor(record(d, `c${i}`), opts({ startDaemon: start }))));
    expect(starts).toBe(1);
    expect(outcomes.filter((o) => o.how === 'started')).toHaveLength(1);
    await until('all five looked after', () => daemons[0]!.domains().length === 5);
  });

  it('poweroff with on_poweroff=destroy: destroyed, record removed, and the monitor exits when idle', async () => {
    const a = await makeGuest('a');
    await registerWithMonitor(record(a, 'a'), opts({ startDaemon: async (server) => (await startDaemon({ server }, 100), undefined) }));
    sim.injectShutdown(a, 'poweroff');
    await daemons[0]!.closed;
    expect(await sim.findDomain(a)).toBeUndefined();
    expect(await xs.tryRead(`/local/domain/${a}/name`)).toBeUndefined();
    expect(records()).toEqual([]);
    expect(logs).toContain(`Domain ${a} has shut down, reason code 0 0x0`);
    expect(logs.at(-1)).toBe('Nothing left to look after: exiting');
    // Its address is free again: the next registration starts a new monitor.
    const b = await makeGuest('b');
    expect((await registerWithMonitor(record(b, 'b'), opts())).how).toBe('started');
  });

  it('reboot with on_reboot=restart: re-created with the same name and config, the record follows the new domid', async () => {
    const a = await makeGuest('web');
    await registerWithMonitor(record(a, 'web'), opts());
    sim.injectShutdown(a, 'reboot');
    await until('the restart', () => recreated.length === 1 && records().includes(`${recreated[0]!.domid}.json`) && !records().includes(`${a}.json`));
    const again = recreated[0]!;
    expect(again).toMatchObject({ name: 'web', config: record(a, 'web').config });
    expect(await sim.findDomain(a)).toBeUndefined();
    expect(await xs.read(`/local/domain/${again.domid}/name`)).toBe('web');
    expect(JSON.parse(readFileSync(join(dir, `${again.domid}.json`), 'utf8'))).toEqual(record(again.domid, 'web'));
    // Still looked after: a crash with on_crash=destroy ends it.
    sim.injectShutdown(again.domid, 'crash');
    await until('the crash destroy', async () => (await sim.findDomain(again.domid)) === undefined && records().length === 0);
    expect(daemons[0]!.domains()).toEqual([]);
  });

  it('preserve leaves the domain; rename-restart keeps it as NAME-<time> and starts a new one', async () => {
    const p = await makeGuest('keep');
    const r = await makeGuest('rr');
    await registerWithMonitor(record(p, 'keep', { onCrash: 'preserve' }), opts());
    await registerWithMonitor(record(r, 'rr', { onReboot: 'rename-restart' }), opts());
    sim.injectShutdown(p, 'crash');
    sim.injectShutdown(r, 'reboot');
    await until('both handled', () => recreated.length === 1 && !records().includes(`${p}.json`) && !records().includes(`${r}.json`));
    expect((await sim.findDomain(p))?.shutdown).toBe(true);
    expect(await xs.read(`/local/domain/${r}/name`)).toMatch(/^rr-\d{8}T\d{4}Z$/);
    expect(await xs.read(`/local/domain/${recreated[0]!.domid}/name`)).toBe('rr');
    expect(records()).toEqual([`${recreated[0]!.domid}.json`]);
  });

  it('a domain destroyed by someone else (xl/txl destroy) is let go, and the monitor exits', async () => {
    const a = await makeGuest('a');
    await registerWithMonitor(record(a, 'a'), opts({ startDaemon: async (server) => (await startDaemon({ server }, 100), undefined) }));
    await sim.destroyDomain(a);
    await daemons[0]!.closed;
    expect(records()).toEqual([]);
    expect(logs).toContain(`Domain ${a} has been destroyed.`);
    expect(recreated).toEqual([]);
  });

  it('a monitor started later picks up the records; records of domains gone or renamed are dropped', async () => {
    const a = await makeGuest('a');
    const b = await makeGuest('b');
    const c = await makeGuest('c');
    for (const [d, n] of [[a, 'a'], [b, 'b'], [c, 'c']] as const) writeFileSync(join(dir, `${d}.json`), JSON.stringify(record(d, n)));
    await sim.destroyDomain(b);
    await xs.write(`/local/domain/${c}/name`, 'someone-else');
    // A shutdown that happened while no monitor ran is handled when it starts.
    sim.injectShutdown(a, 'poweroff');
    const daemon = await startDaemon({ path: socketPath }, 100);
    await daemon.closed;
    expect(await sim.findDomain(a)).toBeUndefined();
    expect(records()).toEqual([]);
    expect(logs.some((l) => l.includes(`record of domain ${b} dropped: domain ${b} (b) no longer exists`))).toBe(true);
    expect(logs.some((l) => l.includes(`record of domain ${c} dropped: domain ${c} is now named 'someone-else', not 'c'`))).toBe(true);
  });

  it('refuses a bad record, naming the file and field', async () => {
    const a = await makeGuest('a');
    await startDaemon({ path: socketPath });
    const bad = { ...record(a, 'a'), actions: { onPoweroff: 'explode', onReboot: 'restart', onCrash: 'destroy' } } as unknown as MonitorRecord;
    await expect(registerWithMonitor(bad, opts())).rejects.toMatchObject({
      code: 'TXL_LC_MONITOR',
      message: expect.stringContaining(`${a}.json: field 'actions.onPoweroff' must be one of destroy, restart`),
    });
    expect(await askMonitor(socketPath, { op: 'status' })).toMatchObject({ ok: true, domains: [] });
  });
});
