// The domain builder runs through SimulatedHypervisor's ports: the model's rules (max_mem before
// populate, tables unmapped and valid before pin, cr3 pinned, grant frame 0) accept a real PV build.
import { describe, expect, it } from 'vitest';
import { buildPvDomain, parseKernel } from '../../domain-builder/index.js';
import { syntheticElfKernel } from '../../domain-builder/testing/synthetic-kernel.js';
import { SimulatedHypervisor } from '../../hypervisor/index.js';
import { vcpu_guest_context } from '../../hypervisor/abi/structs.js';

async function buildOn(sim: SimulatedHypervisor, memoryMiB: number) {
  const domid = await sim.createDomain({ maxVcpus: 1, uuid: '0b5e1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b' });
  await sim.setMaxVcpus(domid, 1);
  await sim.setMaxMem(domid, BigInt(memoryMiB * 1024 + 1024));
  const storeEvtchn = await sim.evtchnAllocUnbound(domid, 0);
  const consoleEvtchn = await sim.evtchnAllocUnbound(domid, 0);
  const kernel = await parseKernel(syntheticElfKernel(), 'vmlinux');
  const result = await buildPvDomain(kernel, { domid, memoryMiB, cmdline: 'console=hvc0', storeEvtchn, consoleEvtchn }, sim);
  return { domid, result };
}

describe('buildPvDomain on SimulatedHypervisor', () => {
  for (const superpages of [true, false]) {
    it(`builds a bootable PV domain (superpages ${superpages ? 'available' : 'exhausted'})`, async () => {
      const sim = new SimulatedHypervisor({ superpages });
      const { domid, result } = await buildOn(sim, 64);
      expect(sim.isPinned(domid, result.l4Mfn)).toBe(true);
      const ctx = vcpu_guest_context.decode(sim.vcpuContext(domid, 0)!);
      expect(Number(ctx.ctrlreg[3]! >> 12n)).toBe(result.l4Mfn);
      expect(sim.grantEntries(domid)).toEqual([
        { flags: 1, domid: 0, frame: result.consoleMfn },
        { flags: 1, domid: 0, frame: result.storeMfn },
      ]);
      const info = await sim.getDomainInfo(domid);
      expect([info.onlineVcpus, info.totPages, info.paused]).toEqual([1, 64n * 256n, true]);
      await sim.unpause(domid);
      expect((await sim.getDomainInfo(domid)).blocked).toBe(true);
      await sim.destroyDomain(domid);
      expect(await sim.findDomain(domid)).toBeUndefined();
    });
  }

  it('fails on the model when max_mem was not raised first', async () => {
    const sim = new SimulatedHypervisor();
    const domid = await sim.createDomain({ maxVcpus: 1 });
    await sim.setMaxVcpus(domid, 1);
    const kernel = await parseKernel(syntheticElfKernel(), 'vmlinux');
    await expect(buildPvDomain(kernel, { domid, memoryMiB: 32, cmdline: '', storeEvtchn: 1, consoleEvtchn: 2 }, sim)).rejects.toThrow(/populate|memory|ENOMEM/i);
  });
});
