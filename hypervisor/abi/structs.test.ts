// Checks every declarative layout against sizes and offsets gcc measured from the real public headers.
// Regenerate the JSON with: gcc -D__XEN_TOOLS__ -I<dir holding xen/ = xen/include/public of stable-4.NN>
//   -o /tmp/m hypervisor/abi/measure-layouts.c && /tmp/m > hypervisor/abi/gcc-layouts-4.NN.json
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as L from './structs.js';
import * as linux from './linux.js';
import fc from 'fast-check';
import { interpretedAccessors, type FieldMap, type Struct } from './layout.js';

type Measured = Record<string, { size: number; fields: Record<string, number> }>;
const measured = (release: string): Measured =>
  JSON.parse(readFileSync(new URL(`./gcc-layouts-${release}.json`, import.meta.url), 'utf8')) as Measured;

/** The layouts of one release, keyed by C struct name. */
function layoutsFor(release: '4.17' | '4.20'): Record<string, Struct<FieldMap>> {
  const common = [
    L.xen_domctl, L.xen_sysctl, L.getdomaininfo, L.max_mem, L.max_vcpus, L.vcpucontext, L.getvcpuinfo, L.vcpuaffinity,
    L.xenctl_bitmap, L.address_size, L.settimeoffset, L.hypercall_init, L.readconsole, L.physinfo, L.getdomaininfolist,
    L.sched_id, L.cpupool_op, L.xen_memory_reservation, L.evtchn_alloc_unbound, L.evtchn_close, L.gnttab_setup_table,
    L.grant_entry_v1, L.sched_remote_shutdown, L.mmuext_op, L.xen_compile_info, L.xen_platform_parameters,
    L.cpu_user_regs, L.trap_info, L.vcpu_guest_context, L.scheduler_op,
  ] as unknown as Struct<FieldMap>[];
  const all = [...common, (release === '4.17' ? L.ABI_417 : L.ABI_420).createdomain as unknown as Struct<FieldMap>];
  return Object.fromEntries(all.map((s) => [s.name, s]));
}

for (const release of ['4.17', '4.20'] as const) {
  describe(`Xen ${release} layouts match gcc`, () => {
    const gcc = measured(release);
    const ours = layoutsFor(release);
    it('covers every measured struct', () => {
      expect(Object.keys(ours).sort()).toEqual(Object.keys(gcc).sort());
    });
    for (const [name, m] of Object.entries(gcc)) {
      it(`${name}: size ${m.size} and field offsets`, () => {
        const s = ours[name]!;
        expect(s.size).toBe(m.size);
        for (const [field, offset] of Object.entries(m.fields)) {
          expect({ field, offset: s.offsets[field] }).toEqual({ field, offset });
        }
      });
    }
  });
}

describe('release tables', () => {
  it('pick interface versions from the headers', () => {
    expect(L.ABI_417.domctlInterfaceVersion).toBe(0x15);
    expect(L.ABI_420.domctlInterfaceVersion).toBe(0x17);
    expect(L.ABI_417.sysctlInterfaceVersion).toBe(0x15);
    expect(L.ABI_420.sysctlInterfaceVersion).toBe(0x15);
    expect(L.abiForVersion(4, 17)).toBe(L.ABI_417);
    expect(L.abiForVersion(4, 20)).toBe(L.ABI_420);
    expect(L.abiForVersion(4, 18)).toBeUndefined();
  });
  it('4.20 createdomain moves vmtrace_size, cpupool_id and arch by 4 (altp2m_opts)', () => {
    expect(L.createdomain_420.offsets.vmtrace_size - L.createdomain_417.offsets.vmtrace_size).toBe(4);
    expect(L.createdomain_420.offsets.arch - L.createdomain_417.offsets.arch).toBe(4);
  });
});

describe('Linux ioctl layouts (gcc against /usr/include/xen/sys/privcmd.h and evtchn.h, x86_64)', () => {
  it('privcmd structs and request numbers', () => {
    expect(linux.privcmd_hypercall.size).toBe(48);
    expect(linux.privcmd_mmapbatch_v2.size).toBe(32);
    expect(linux.privcmd_mmapbatch_v2.offsets).toEqual({ num: 0, dom: 4, addr: 8, arr: 16, err: 24 });
    expect(linux.privcmd_mmap_resource.size).toBe(32);
    expect(linux.privcmd_mmap_resource.offsets).toEqual({ dom: 0, type: 4, id: 8, idx: 12, num: 16, addr: 24 });
    expect(linux.IOCTL_PRIVCMD_HYPERCALL).toBe(0x305000);
    expect(linux.IOCTL_PRIVCMD_MMAPBATCH_V2).toBe(0x205004);
    expect(linux.IOCTL_PRIVCMD_MMAP_RESOURCE).toBe(0x205007);
  });
  it('evtchn request numbers', () => {
    expect(linux.IOCTL_EVTCHN_BIND_INTERDOMAIN).toBe(0x84501);
    expect(linux.IOCTL_EVTCHN_BIND_UNBOUND_PORT).toBe(0x44502);
    expect(linux.IOCTL_EVTCHN_UNBIND).toBe(0x44503);
    expect(linux.IOCTL_EVTCHN_NOTIFY).toBe(0x44504);
  });
});

describe('compiled struct accessors agree with the interpreted reference', () => {
  // Every struct this module exports, nested ones included: random bytes decode to the same value,
  // and writing that value back gives the same bytes (padding aside: both zero it).
  const all = (Object.values(L) as unknown[]).filter((v): v is Struct<FieldMap> => typeof v === 'object' && v !== null && 'fields' in v && 'offsets' in v);
  it('covers the exported structs', () => {
    expect(all.length).toBeGreaterThan(25);
  });
  for (const s of all) {
    it(`${s.name} (${s.source.split(';')[0]})`, () => {
      const reference = interpretedAccessors(s.fields, s.offsets, s.size);
      fc.assert(fc.property(fc.uint8Array({ minLength: s.size + 16, maxLength: s.size + 16 }), fc.nat({ max: 16 }), (raw, at) => {
        const view = new DataView(raw.buffer);
        const ours = s.read(view, at);
        expect(ours).toEqual(reference.read(view, at));
        const a = new Uint8Array(s.size + 16).fill(0xa5);
        const b = new Uint8Array(s.size + 16).fill(0xa5);
        s.write(new DataView(a.buffer), at, ours as never);
        reference.write(new DataView(b.buffer), at, ours as never);
        expect(a).toEqual(b);
        // Missing fields are written as zero by both.
        s.write(new DataView(a.buffer), at, {});
        reference.write(new DataView(b.buffer), at, {});
        expect(a).toEqual(b);
      }), { numRuns: 50 });
    });
  }
});
