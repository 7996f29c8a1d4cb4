// planCreate + executeCreate against SimulatedHypervisor and MemoryXenstore: a booted domain, and clean rollback.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { pattern, syntheticElfKernel } from '../../domain-builder/testing/synthetic-kernel.js';
import { SimulatedHypervisor, type Hypervisor } from '../../hypervisor/index.js';
import { executeCreate, planCreate, type CreateInput } from '../../toolstack/operations/index.js';
import { MemoryXenstore, XenstoreClient } from '../../xenstore/index.js';
import { countingTransactions, meeting } from '../../xenstore/testing/counting.js';

let dir: string;
let kernel: string;
let initrd: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'txl-create-'));
  kernel = join(dir, 'vmlinux');
  initrd = join(dir, 'initrd');
  writeFileSync(kernel, syntheticElfKernel());
  writeFileSync(initrd, pattern(300_000, 1));
});

function setup() {
  const hv = new SimulatedHypervisor();
  const store = new MemoryXenstore();
  const xs = XenstoreClient.overMemory(store);
  return { hv, store, xs };
}

/** A Hypervisor whose method `failAt` throws, to test rollback. */
function failing(hv: SimulatedHypervisor, failAt: string): Hypervisor {
  return new Proxy(hv, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop === failAt) return async () => { throw new Error(`injected ${failAt} failure`); };
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const input = (over: Partial<CreateInput> = {}): CreateInput => ({
  name: 'guest1', uuid: '0b5e1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b', kernel, ramdisk: initrd, cmdline: 'console=hvc0', memoryMiB: 64, vcpus: 2, maxvcpus: 3, ...over,
});

/** Guest domain dirs under /local/domain (dom0's may or may not exist in a fresh MemoryXenstore). */
async function guestNodes(xs: XenstoreClient): Promise<string[]> {
  return (await xs.directory('/local/domain').catch(() => [] as string[])).filter((d) => d !== '0');
}

async function guestDomains(hv: Hypervisor): Promise<number[]> {
  return (await hv.listDomains()).map((d) => d.domid).filter((d) => d !== 0);
}

describe('txl create on the simulator', () => {
  it('builds, writes xenstore like libxl, introduces and unpauses', async () => {
    const { hv, xs } = setup();
    const r = await executeCreate(planCreate(input()), { hypervisor: hv, xenstore: xs, now: () => 1_700_000_000_123 });
    const info = await hv.getDomainInfo(r.domid);
    expect(info.paused).toBe(false);
    expect(info.totPages).toBe(64n * 256n);
    expect(info.maxPages).toBe(BigInt(64 * 256 + 256));
    const dom = `/local/domain/${r.domid}`;
    expect(await xs.read(`${dom}/name`)).toBe('guest1');
    expect(await xs.read(`${dom}/domid`)).toBe(String(r.domid));
    expect(await xs.read(`${dom}/store/ring-ref`)).toBe(String(r.storeMfn));
    expect(await xs.read(`${dom}/store/port`)).toBe(String(r.storeEvtchn));
    expect(await xs.read(`${dom}/console/ring-ref`)).toBe(String(r.consoleMfn));
    expect(await xs.read(`${dom}/console/port`)).toBe(String(r.consoleEvtchn));
    expect(await xs.read(`${dom}/console/type`)).toBe('xenconsoled');
    expect(await xs.read(`${dom}/memory/target`)).toBe(String(64 * 1024));
    expect(await Promise.all([0, 1, 2].map((i) => xs.read(`${dom}/cpu/${i}/availability`)))).toEqual(['online', 'online', 'offline']);
    expect(await xs.read(`/vm/0b5e1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b/start_time`)).toBe('1700000000.12');
    expect(await xs.getPermissions(dom)).toEqual([{ domid: 0, access: 'n' }, { domid: r.domid, access: 'r' }]);
    expect(await xs.getPermissions(`${dom}/control/shutdown`)).toEqual([{ domid: r.domid, access: 'n' }]);
    expect(await xs.isDomainIntroduced(r.domid)).toBe(true);
    expect(r.ops.at(-1)).toBe('unpause');
    expect(r.buildSteps).toContain('pinTopLevelTable');
  });

  it('runs concurrent creates (each its own xenstored connection) without failing each other\'s commits', async () => {
    const hv = new SimulatedHypervisor();
    const server = new MemoryXenstore();
    // Each transaction waits in xenstored for the other creates' (a step behind at most 50 ms), as ten
    // creates at once in the lab's dom0 overlapped.
    const meet = meeting(3);
    const clients = [0, 1, 2].map(() => countingTransactions(XenstoreClient.overMemory(server), meet));
    try {
      const results = await Promise.all(clients.map((c, i) => executeCreate(planCreate(input({ name: `guest${i}`, uuid: `0b5e1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5${i}` })), { hypervisor: hv, xenstore: c.store })));
      expect(new Set(results.map((r) => r.domid)).size).toBe(3);
      // writeDomainSkeleton, writeXenstoreTree and setupConsole: one transaction each, none retried.
      expect(clients.map((c) => c.attempts())).toEqual([3, 3, 3]);
      for (const [i, r] of results.entries()) expect(await clients[0]!.store.read(`/local/domain/${r.domid}/name`)).toBe(`guest${i}`);
    } finally {
      await Promise.all(clients.map((c) => c.store.close()));
    }
  });

  it('refuses a second domain with the same name before creating anything', async () => {
    const { hv, xs } = setup();
    await executeCreate(planCreate(input()), { hypervisor: hv, xenstore: xs });
    await expect(executeCreate(planCreate(input({ uuid: '11111111-2222-3333-4444-555555555555' })), { hypervisor: hv, xenstore: xs }))
      .rejects.toMatchObject({ code: 'TXL_CREATE_NAME_TAKEN' });
    expect(await guestDomains(hv)).toHaveLength(1);
  });

  it('fails on a bad kernel or an initrd larger than memory without creating a domain', async () => {
    const { hv, xs } = setup();
    const bad = join(dir, 'not-a-kernel');
    writeFileSync(bad, 'hello');
    await expect(executeCreate(planCreate(input({ kernel: bad })), { hypervisor: hv, xenstore: xs })).rejects.toMatchObject({ code: 'TXL_KERNEL_UNRECOGNISED' });
    await expect(executeCreate(planCreate(input({ kernel: dir })), { hypervisor: hv, xenstore: xs })).rejects.toMatchObject({ code: 'TXL_KERNEL_READ' });
    const big = join(dir, 'big-initrd');
    writeFileSync(big, new Uint8Array(80 << 20));
    await expect(executeCreate(planCreate(input({ ramdisk: big })), { hypervisor: hv, xenstore: xs })).rejects.toMatchObject({
      code: 'TXL_LAYOUT_NO_MEMORY', message: expect.stringContaining('initrd (80 MiB) does not fit'),
    });
    expect(await guestDomains(hv)).toEqual([]);
    expect(await guestNodes(xs)).toEqual([]);
  });

  it('reads the initrd into the guest at build time: one changed after the check fails the create and rolls back', async () => {
    const { hv, xs } = setup();
    const changing = join(dir, 'changing-initrd');
    writeFileSync(changing, pattern(300_000, 2));
    // Grows between loadKernel (which checked it) and buildDomain (which reads it into guest pages).
    const onStep = (op: { kind: string }, phase: 'start' | 'done'): void => {
      if (op.kind === 'buildDomain' && phase === 'start') writeFileSync(changing, pattern(400_000, 2));
    };
    const err = await executeCreate(planCreate(input({ ramdisk: changing })), { hypervisor: hv, xenstore: xs, onStep }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TXL_CREATE_FAILED', message: expect.stringContaining(`initrd ${changing} changed while the domain was built (300000 bytes when checked, 400000 now)`) });
    expect(await guestDomains(hv)).toEqual([]);
    expect(await guestNodes(xs)).toEqual([]);
  });

  for (const failAt of ['setMaxMem', 'populatePhysmap', 'pinTopLevelTable', 'seedGrantTable', 'unpause']) {
    it(`rolls back a failure in ${failAt}: domain destroyed, xenstore nodes removed`, async () => {
      const { hv, xs } = setup();
      const err = await executeCreate(planCreate(input()), { hypervisor: failing(hv, failAt), xenstore: xs }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'TXL_CREATE_FAILED', message: expect.stringContaining(`injected ${failAt} failure`) });
      expect(await guestDomains(hv)).toEqual([]);
      expect(await guestNodes(xs)).toEqual([]);
      expect(await xs.tryRead('/vm/0b5e1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b')).toBeUndefined();
      expect(await xs.tryRead('/libxl/1')).toBeUndefined();
      expect(await xs.directory('/local/domain/0/backend/console').catch(() => [])).toEqual([]);
    });
  }
});
