// The simulator passes the shared scenario suite and models the PV build rules the builder relies on.
import { describe, expect, it } from 'vitest';
import { SCENARIOS } from './scenarios.js';
import { SimulatedHypervisor } from './simulator.js';
import { HypervisorError } from './errors.js';
import { vcpu_guest_context } from './abi/structs.js';

for (const xen of ['4.17', '4.20'] as const) {
  describe(`SimulatedHypervisor (${xen}) scenario suite`, () => {
    for (const s of SCENARIOS) it(s.name, async () => s.run(new SimulatedHypervisor({ xen })));
  });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (error) {
    return error instanceof HypervisorError ? error.code : `not a HypervisorError: ${String(error)}`;
  }
}

/** Builds a minimal 4-level page-table tree mapping gpfn 0..3 at VA 0, in frames gpfn 4..7. */
async function buildTables(hv: SimulatedHypervisor, domid: number, p2m: number[], opts: { writableTable?: boolean } = {}) {
  const m = await hv.mapFrames(domid, p2m);
  const view = new DataView(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
  const [l4, l3, l2, l1] = [4, 5, 6, 7];
  const pte = (gpfn: number, rw = true) => (BigInt(p2m[gpfn]!) << 12n) | 1n | (rw ? 2n : 0n) | 4n;
  view.setBigUint64(l4 * 4096, pte(l3, false), true);
  view.setBigUint64(l3 * 4096, pte(l2, false), true);
  view.setBigUint64(l2 * 4096, pte(l1, false), true);
  for (let i = 0; i < 4; i++) view.setBigUint64(l1 * 4096 + i * 8, pte(i), true);
  view.setBigUint64(l1 * 4096 + 4 * 8, pte(l4, opts.writableTable === true), true); // the L4 itself, read-only
  return { m, l4mfn: p2m[l4]! };
}

describe('SimulatedHypervisor: PV build rules', () => {
  async function freshDomain(hv: SimulatedHypervisor) {
    const domid = await hv.createDomain({ maxVcpus: 1 });
    await hv.setMaxVcpus(domid, 1);
    await hv.setMaxMem(domid, 64n * 1024n);
    const p2m = await hv.populatePhysmap(domid, 0, Array.from({ length: 16 }, (_x, i) => i));
    return { domid, p2m };
  }

  it('pins a valid L4 only after dom0 unmapped the tables, then accepts a vCPU context pointing at it', async () => {
    const hv = new SimulatedHypervisor();
    const { domid, p2m } = await freshDomain(hv);
    const { m, l4mfn } = await buildTables(hv, domid, p2m);
    expect(await codeOf(hv.pinTopLevelTable(domid, l4mfn))).toBe('TXL_HV_EINVAL'); // still mapped by dom0
    await m.unmap();
    await hv.pinTopLevelTable(domid, l4mfn);
    expect(hv.isPinned(domid, l4mfn)).toBe(true);
    const ctx = vcpu_guest_context.encode({ flags: (1n << 2n) | (1n << 5n), ctrlreg: [0n, 0n, 0n, BigInt(l4mfn) << 12n] });
    expect(await codeOf(hv.setVcpuContext(domid, 1, ctx))).toBe('TXL_HV_EINVAL'); // no vcpu 1
    await hv.setVcpuContext(domid, 0, ctx);
    expect((await hv.getDomainInfo(domid)).onlineVcpus).toBe(1);
    await hv.unpause(domid);
    const info = await hv.getDomainInfo(domid);
    expect([info.blocked, info.paused]).toEqual([true, false]);
  });

  it('refuses a tree whose table is writable through the guest mapping', async () => {
    const hv = new SimulatedHypervisor();
    const { domid, p2m } = await freshDomain(hv);
    const { m, l4mfn } = await buildTables(hv, domid, p2m, { writableTable: true });
    await m.unmap();
    expect(await codeOf(hv.pinTopLevelTable(domid, l4mfn))).toBe('TXL_HV_EINVAL');
  });

  it('refuses frames of other domains, unaligned superpage gpfns, and order 9 without superpages', async () => {
    const hv = new SimulatedHypervisor({ superpages: false });
    const { domid } = await freshDomain(hv);
    const other = await hv.createDomain({ maxVcpus: 1 });
    await hv.setMaxMem(other, 1024n);
    const [foreign] = await hv.populatePhysmap(other, 0, [0]);
    expect(await codeOf(hv.mapFrames(domid, [foreign!]))).toBe('TXL_HV_HYPERCALL');
    expect(await codeOf(hv.populatePhysmap(domid, 9, [3]))).toBe('TXL_HV_EINVAL');
    expect(await codeOf(hv.populatePhysmap(domid, 9, [512]))).toBe('TXL_HV_ENOMEM');
    expect(await codeOf(hv.hypercallInit(domid, foreign!))).toBe('TXL_HV_EINVAL');
  });

  it('writes hypercall stubs and grant entries where the guest will look', async () => {
    const hv = new SimulatedHypervisor();
    const { domid, p2m } = await freshDomain(hv);
    await hv.hypercallInit(domid, p2m[2]!);
    const page = hv.readFrame(p2m[2]!);
    expect(Array.from(page.subarray(32 * 29, 32 * 29 + 8))).toEqual([0x51, 0x41, 0x53, 0xb8, 29, 0, 0, 0]);
    await hv.seedGrantTable(domid, [{ ref: 0, backendDomid: 0, mfn: p2m[10]! }, { ref: 1, backendDomid: 0, mfn: p2m[11]! }]);
    expect(hv.grantEntries(domid)).toEqual([{ flags: 1, domid: 0, frame: p2m[10] }, { flags: 1, domid: 0, frame: p2m[11] }]);
  });

  it('injects guest shutdowns with their reason and tells subscribers', async () => {
    const hv = new SimulatedHypervisor();
    const events: unknown[] = [];
    hv.subscribe((e) => events.push(e));
    const domid = await hv.createDomain({ maxVcpus: 1 });
    hv.injectShutdown(domid, 'crash');
    const info = await hv.getDomainInfo(domid);
    expect([info.shutdown, info.shutdownCode]).toEqual([true, 3]);
    await hv.destroyDomain(domid);
    expect(events).toEqual([{ type: 'shutdown', domid, reason: 'crash' }, { type: 'released', domid }]);
  });

  it('refuses an event sent to a domain without vCPUs (it panics Xen 4.17)', async () => {
    const hv = new SimulatedHypervisor();
    const domid = await hv.createDomain({ maxVcpus: 1 });
    const dev = await hv.eventChannels();
    const local = dev.bindInterdomain(domid, await hv.evtchnAllocUnbound(domid, 0));
    expect(await dev.next()).toBe(local);
    expect(() => dev.notify(local)).toThrow(/no vCPUs yet/);
    await hv.setMaxVcpus(domid, 1);
    dev.notify(local);
    expect(hv.guestEvents).toEqual([{ domid, port: 1 }]);
    await dev.close();
  });

  it('keeps a destroyed domain dying while dom0 still maps its memory', async () => {
    const hv = new SimulatedHypervisor();
    const { domid, p2m } = await freshDomain(hv);
    const m = await hv.mapFrames(domid, [p2m[0]!]);
    await hv.destroyDomain(domid);
    expect((await hv.getDomainInfo(domid)).dying).toBe(true);
    expect(await codeOf(hv.unpause(domid))).toBe('TXL_HV_EINVAL');
    await m.unmap();
    expect(await hv.findDomain(domid)).toBeUndefined();
  });

  it('hands out domids with a rover and accounts host memory', async () => {
    const hv = new SimulatedHypervisor({ totalMemoryMiB: 2048, dom0MemoryMiB: 1024 });
    const a = await hv.createDomain({ maxVcpus: 1 });
    const b = await hv.createDomain({ maxVcpus: 1 });
    await hv.destroyDomain(a);
    const c = await hv.createDomain({ maxVcpus: 1 });
    expect([a, b, c]).toEqual([1, 2, 3]);
    expect(await codeOf(hv.createDomain({ maxVcpus: 1, domid: b }))).toBe('TXL_HV_EEXIST');
    const free = (await hv.physinfo()).freePages;
    await hv.setMaxMem(c, 8192n);
    await hv.populatePhysmap(c, 0, Array.from({ length: 100 }, (_x, i) => i));
    expect(free - (await hv.physinfo()).freePages).toBe(100n);
  });

  it('round-trips its state through JSON', async () => {
    const hv = new SimulatedHypervisor({ xen: '4.20' });
    const domid = await hv.createDomain({ maxVcpus: 2, uuid: '11111111-2222-3333-4444-555555555555' });
    await hv.setMaxVcpus(domid, 2);
    await hv.unpause(domid);
    const copy = SimulatedHypervisor.fromState(JSON.parse(JSON.stringify(hv.toState())));
    expect(await copy.listDomains()).toEqual(await hv.listDomains());
    expect(await copy.createDomain({ maxVcpus: 1 })).toBe(domid + 1);
  });
});
