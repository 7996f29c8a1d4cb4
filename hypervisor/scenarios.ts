// Behaviour scenarios every Hypervisor backend must pass: run on the simulator in unit tests and on
// real Xen in the lab (hypervisor/selftest.ts inside dom0). Each throws a descriptive Error on failure.
import { HypervisorError } from './errors.js';
import type { Hypervisor } from './hypervisor.js';

/** One named check against a backend. */
export interface Scenario {
  readonly name: string;
  run(hv: Hypervisor): Promise<void>;
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

async function expectCode(what: string, promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof HypervisorError && error.code === code) return;
    throw new Error(`${what}: expected ${code}, got ${error instanceof HypervisorError ? `${error.code} (${error.message})` : String(error)}`);
  }
  throw new Error(`${what}: expected ${code}, but it succeeded`);
}

/** Polls until `probe` returns true (real Xen finishes some operations asynchronously). */
async function eventually(what: string, probe: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not true after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Creates a small PV domain, runs `fn`, and always destroys it. */
async function withDomain(hv: Hypervisor, fn: (domid: number) => Promise<void>, maxVcpus = 1): Promise<void> {
  const domid = await hv.createDomain({ maxVcpus, uuid: '8f2c6b1e-0d7a-4a53-9b0e-3c1d2e4f5a6b' });
  try {
    await fn(domid);
  } finally {
    await hv.destroyDomain(domid).catch(() => undefined);
  }
}

/** The shared scenario suite. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'xen_version picks the ABI of the running release',
    async run(hv) {
      const v = await hv.xenVersion();
      check(`${v.major}.${v.minor}` === v.abi, `abi ${v.abi} chosen for Xen ${v.major}.${v.minor}`);
      check(v.capabilities.includes('xen-3.0-x86_64'), `capabilities '${v.capabilities}' lack xen-3.0-x86_64`);
      check(v.pagesize === 4096, `pagesize ${v.pagesize}`);
    },
  },
  {
    name: 'physinfo describes the host',
    async run(hv) {
      const p = await hv.physinfo();
      check(p.nrCpus >= 1 && p.maxCpuId >= p.nrCpus - 1, `nr_cpus ${p.nrCpus}, max_cpu_id ${p.maxCpuId}`);
      check(p.totalPages > 0n && p.freePages <= p.totalPages, `total ${p.totalPages}, free ${p.freePages}`);
      check((p.capabilities & 2) !== 0, 'physinfo does not report PV capability');
    },
  },
  {
    name: 'dom0 is listed and running',
    async run(hv) {
      const list = await hv.listDomains();
      const dom0 = list.find((d) => d.domid === 0);
      check(dom0, 'domain 0 missing from getdomaininfolist');
      check(dom0.running && !dom0.paused && dom0.onlineVcpus >= 1, `dom0 state ${JSON.stringify({ r: dom0.running, p: dom0.paused, v: dom0.onlineVcpus })}`);
      const sorted = list.map((d) => d.domid);
      check(sorted.every((id, i) => i === 0 || id > sorted[i - 1]!), `domids not ascending: ${sorted.join(',')}`);
    },
  },
  {
    name: 'a missing domain is TXL_HV_NO_DOMAIN even with a higher domain present (4.17 quirk)',
    async run(hv) {
      const a = await hv.createDomain({ maxVcpus: 1 });
      const b = await hv.createDomain({ maxVcpus: 1 });
      try {
        check(a > 0 && b > a, `new domids ${a}, ${b}`);
        await hv.destroyDomain(a);
        await eventually(`domain ${a} gone from the list`, async () => !(await hv.listDomains()).some((d) => d.domid === a));
        // Xen 4.17's getdomaininfo answers for domain b here; the backend must not.
        check((await hv.findDomain(a)) === undefined, `findDomain(${a}) returned a domain while ${b} exists`);
        await expectCode(`getDomainInfo(${a})`, hv.getDomainInfo(a), 'TXL_HV_NO_DOMAIN');
        await expectCode(`pause(${0x7fef})`, hv.pause(0x7fef), 'TXL_HV_NO_DOMAIN');
        check((await hv.getDomainInfo(b)).domid === b, `getDomainInfo(${b})`);
      } finally {
        await hv.destroyDomain(b).catch(() => undefined);
        await hv.destroyDomain(a).catch(() => undefined);
      }
    },
  },
  {
    name: 'a new domain is paused, has no vCPUs until max_vcpus, and max_vcpus must match createdomain',
    async run(hv) {
      await withDomain(hv, async (domid) => {
        const info = await hv.getDomainInfo(domid);
        check(info.paused && !info.running, `new domain not paused: flags ${info.flags.toString(16)}`);
        check(info.maxVcpuId === 0xffffffff && info.onlineVcpus === 0, `vcpus before max_vcpus: ${info.maxVcpuId}/${info.onlineVcpus}`);
        check(info.uuid === '8f2c6b1e-0d7a-4a53-9b0e-3c1d2e4f5a6b', `uuid ${info.uuid}`);
        await expectCode('max_vcpus(3) on a 2-vCPU domain', hv.setMaxVcpus(domid, 3), 'TXL_HV_EINVAL');
        await hv.setMaxVcpus(domid, 2);
        const after = await hv.getDomainInfo(domid);
        check(after.maxVcpuId === 1, `max_vcpu_id after max_vcpus(2): ${after.maxVcpuId}`);
        const vcpus = await hv.listVcpus(domid);
        check(vcpus.length === 2 && vcpus.every((v) => !v.online), `vcpus ${JSON.stringify(vcpus.map((v) => v.online))}`);
      }, 2);
    },
  },
  {
    name: 'memory: populate needs max_mem; pages are counted and mappable',
    async run(hv) {
      await withDomain(hv, async (domid) => {
        await hv.setAddressSize(domid, 64);
        await expectCode('populate before max_mem', hv.populatePhysmap(domid, 0, [0]), 'TXL_HV_ENOMEM');
        await hv.setMaxMem(domid, 4096n + 1024n);
        const gpfns = Array.from({ length: 256 }, (_x, i) => i);
        const mfns = await hv.populatePhysmap(domid, 0, gpfns);
        check(mfns.length === 256 && new Set(mfns).size === 256, `populate returned ${mfns.length} (${new Set(mfns).size} distinct) mfns`);
        const info = await hv.getDomainInfo(domid);
        check(info.totPages >= 256n, `tot_pages ${info.totPages}`);
        check(info.maxPages === 1280n, `max_pages ${info.maxPages} for max_mem 5120 KiB`);
        const m = await hv.mapFrames(domid, [mfns[3]!, mfns[7]!]);
        m.bytes.set([1, 2, 3, 4], 4096 + 100);
        await m.unmap();
        const again = await hv.mapFrames(domid, [mfns[7]!]);
        const seen = Array.from(again.bytes.subarray(100, 104));
        await again.unmap();
        check(seen.join(',') === '1,2,3,4', `frame contents after remap: ${seen.join(',')}`);
        await expectCode('populate beyond max_mem', hv.populatePhysmap(domid, 0, Array.from({ length: 2000 }, (_x, i) => 1000 + i)), 'TXL_HV_ENOMEM');
      });
    },
  },
  {
    name: 'pause and unpause follow the controller pause count',
    async run(hv) {
      await withDomain(hv, async (domid) => {
        await hv.unpause(domid);
        check(!(await hv.getDomainInfo(domid)).paused, 'still paused after unpause');
        await expectCode('unpause of a running domain', hv.unpause(domid), 'TXL_HV_EINVAL');
        await hv.pause(domid);
        await hv.pause(domid);
        check((await hv.getDomainInfo(domid)).paused, 'not paused after pause');
        await hv.unpause(domid);
        check((await hv.getDomainInfo(domid)).paused, 'one unpause undid two pauses');
        await hv.unpause(domid);
        check(!(await hv.getDomainInfo(domid)).paused, 'paused after matching unpauses');
        await expectCode('pause of dom0', hv.pause(0), 'TXL_HV_EINVAL');
      });
    },
  },
  {
    name: 'event channels and grant seeding on a new domain',
    async run(hv) {
      await withDomain(hv, async (domid) => {
        const a = await hv.evtchnAllocUnbound(domid, 0);
        const b = await hv.evtchnAllocUnbound(domid, 0);
        check(a > 0 && b > 0 && a !== b, `ports ${a}, ${b}`);
        await hv.setMaxMem(domid, 1024n);
        const [console_, store] = await hv.populatePhysmap(domid, 0, [0, 1]);
        await hv.seedGrantTable(domid, [{ ref: 0, backendDomid: 0, mfn: console_! }, { ref: 1, backendDomid: 0, mfn: store! }]);
      });
    },
  },
  {
    name: 'event channel device: loopback notify wakes the event loop; guest ports bind',
    async run(hv) {
      const dev = await hv.eventChannels();
      try {
        const a = dev.bindUnboundPort(0);
        const b = dev.bindInterdomain(0, a);
        check(a !== b, `loopback ports ${a}, ${b}`);
        // Xen sets the new local port pending on bind_interdomain (notifications to the unbound port
        // may have been lost): that event comes first.
        const bound = await Promise.race([dev.next(), new Promise<string>((r) => setTimeout(() => r('timeout'), 3000))]);
        check(bound === b, `expected the bind notification on port ${b}, got ${String(bound)}`);
        const fired = dev.next();
        dev.notify(b);
        const got = await Promise.race([fired, new Promise<string>((r) => setTimeout(() => r('timeout'), 3000))]);
        check(got === a, `expected an event on port ${a}, got ${String(got)}`);
        const again = dev.next();
        dev.notify(a);
        check((await again) === b, 'event in the other direction');
        dev.unbind(b);
        dev.unbind(a);
        await withDomain(hv, async (domid) => {
          // vCPUs first: Xen 4.17 crashes (NULL vcpu in evtchn_2l_set_pending) on a send to a domain without any.
          await hv.setMaxVcpus(domid, 1);
          const guestPort = await hv.evtchnAllocUnbound(domid, 0);
          const local = dev.bindInterdomain(domid, guestPort);
          check(local > 0, `local port ${local}`);
          check((await dev.next()) === local, 'bind notification on the guest-facing port');
          dev.notify(local);
          dev.unbind(local);
        });
      } finally {
        await dev.close();
      }
    },
  },
  {
    name: 'remote shutdown marks the domain shut down with its reason',
    async run(hv) {
      await withDomain(hv, async (domid) => {
        await hv.setMaxVcpus(domid, 1);
        await hv.remoteShutdown(domid, 'reboot');
        await eventually('shutdown flag', async () => (await hv.getDomainInfo(domid)).shutdown);
        const info = await hv.getDomainInfo(domid);
        check(info.shutdownCode === 1, `shutdown code ${info.shutdownCode} (expected 1 = reboot)`);
      });
    },
  },
  {
    name: 'destroy removes the domain; domids are handed out afresh',
    async run(hv) {
      const a = await hv.createDomain({ maxVcpus: 1 });
      await hv.destroyDomain(a);
      await eventually(`domain ${a} gone`, async () => (await hv.findDomain(a)) === undefined);
      const b = await hv.createDomain({ maxVcpus: 1 });
      try {
        check(b !== a, `domid ${a} reused immediately (Xen's rover moves on)`);
      } finally {
        await hv.destroyDomain(b);
      }
      await expectCode('destroy of a destroyed domain', hv.destroyDomain(a), 'TXL_HV_NO_DOMAIN');
      await expectCode('createdomain with 0 vCPUs', hv.createDomain({ maxVcpus: 0 }), 'TXL_HV_EINVAL');
    },
  },
  {
    name: 'the hypervisor console ring is readable',
    async run(hv) {
      const text = await hv.readConsole(false);
      check(/Xen/.test(text), `console ring has no 'Xen': ${JSON.stringify(text.slice(0, 80))}`);
    },
  },
];

/** Runs every scenario; returns one result per scenario (never throws). */
export async function runScenarios(hv: Hypervisor): Promise<{ name: string; ok: boolean; error?: string }[]> {
  const results: { name: string; ok: boolean; error?: string }[] = [];
  for (const s of SCENARIOS) {
    try {
      await s.run(hv);
      results.push({ name: s.name, ok: true });
    } catch (error) {
      results.push({ name: s.name, ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return results;
}
