// XenCalls over a fake privcmd: checks the bytes txl hands to Xen (command numbers, interface versions,
// field offsets taken from gcc's measurements, nested buffer pointers) and how replies and errnos are read.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HypervisorError } from '../errors.js';
import { IOCTL_PRIVCMD_HYPERCALL, IOCTL_PRIVCMD_MMAPBATCH_V2 } from '../abi/linux.js';
import { PrivcmdDevice, PrivcmdError } from './device.js';
import type { Ffi, Sys } from './ffi.js';
import { XenCalls } from './xen-calls.js';

type Gcc = Record<string, { size: number; fields: Record<string, number> }>;
const gcc = (release: string): Gcc =>
  JSON.parse(readFileSync(new URL(`../abi/gcc-layouts-${release}.json`, import.meta.url), 'utf8')) as Gcc;

/** A fake address space: regions handed out by mmap, addressed by bigint. */
class FakeMemory {
  private next = 0x7f0000000000n;
  readonly regions = new Map<bigint, Uint8Array>();
  map(length: number): bigint {
    const base = this.next;
    this.next += BigInt(length + 0x10000);
    this.regions.set(base, new Uint8Array(length));
    return base;
  }
  /** A DataView at an address inside a region. */
  at(addr: bigint, length: number): DataView {
    for (const [base, bytes] of this.regions) {
      if (addr >= base && addr + BigInt(length) <= base + BigInt(bytes.length)) {
        return new DataView(bytes.buffer, Number(addr - base), length);
      }
    }
    throw new Error(`fake Xen: address 0x${addr.toString(16)} (+${length}) is not mapped (not hypercall memory)`);
  }
}

interface FakeDomain { domid: number; maxVcpus: number; paused: boolean; weight?: number; cap?: number }

/** Just enough of Xen to answer XenCalls, reading structs at gcc-measured offsets. */
class FakeXen {
  readonly domains: FakeDomain[] = [{ domid: 0, maxVcpus: 2, paused: false }];
  readonly log: string[] = [];
  lastCreate: Record<string, number> = {};
  /** XEN_SCHEDULER_* id sysctl sched_id answers (6: credit2). */
  schedId = 6;
  constructor(readonly release: '4.17' | '4.20', readonly mem: FakeMemory, readonly domctlVersion = release === '4.17' ? 0x15 : 0x17) {}

  hypercall(op: number, args: bigint[]): number {
    const L = gcc(this.release);
    const dc = L.xen_domctl!.fields;
    switch (op) {
      case 17: // xen_version
        if (args[0] === 0n) return this.release === '4.17' ? (4 << 16) | 17 : (4 << 16) | 20;
        return -38;
      case 36: { // domctl
        const v = this.mem.at(args[0]!, L.xen_domctl!.size);
        const cmd = v.getUint32(dc.cmd!, true);
        const domid = v.getUint16(dc.domain!, true);
        const u = dc.u!;
        this.log.push(`domctl ${cmd} dom ${domid}`);
        if (v.getUint32(dc.interface_version!, true) !== this.domctlVersion) return -13;
        const dom = this.domains.find((d) => d.domid === domid);
        if (cmd === 1) {
          const f = L.xen_domctl_createdomain!.fields;
          this.lastCreate = Object.fromEntries(Object.entries(f).map(([k, off]) => [k, k === 'handle' ? v.getUint8(u + off) : v.getUint32(u + off, true)]));
          const id = Math.max(...this.domains.map((d) => d.domid)) + 1;
          this.domains.push({ domid: id, maxVcpus: this.lastCreate.max_vcpus!, paused: true });
          v.setUint16(dc.domain!, id, true);
          return 0;
        }
        if (cmd === 5) { // getdomaininfo: 4.17 answers for the next domain >= domid
          const d = this.release === '4.17' ? this.domains.filter((x) => x.domid >= domid).sort((a, b) => a.domid - b.domid)[0] : dom;
          if (!d) return -3;
          this.writeInfo(v, u, d);
          return 0;
        }
        if (!dom) return -3;
        if (cmd === 3) { dom.paused = true; return 0; }
        if (cmd === 4) { if (!dom.paused) return -22; dom.paused = false; return 0; }
        if (cmd === 16) { // scheduler_op: getinfo only, for the running scheduler (else EINVAL, as Xen)
          const f = L.xen_domctl_scheduler_op!.fields;
          if (v.getUint32(u + f.sched_id!, true) !== this.schedId || v.getUint32(u + f.cmd!, true) !== 1) return -22;
          v.setUint16(u + f.weight!, dom.weight ?? 256, true);
          v.setUint16(u + f.cap!, dom.cap ?? 0, true);
          return 0;
        }
        return -38;
      }
      case 35: { // sysctl
        const v = this.mem.at(args[0]!, L.xen_sysctl!.size);
        const u = L.xen_sysctl!.fields.u!;
        if (v.getUint32(L.xen_sysctl!.fields.interface_version!, true) !== 0x15) return -13;
        const cmd = v.getUint32(0, true);
        if (cmd === 4) { v.setUint32(u + L.xen_sysctl_sched_id!.fields.sched_id!, this.schedId, true); return 0; }
        if (cmd === 6) {
          const f = L.xen_sysctl_getdomaininfolist!.fields;
          const first = v.getUint16(u + f.first_domain!, true);
          const max = v.getUint32(u + f.max_domains!, true);
          const buffer = v.getBigUint64(u + f.buffer!, true);
          const list = this.domains.filter((d) => d.domid >= first).slice(0, max);
          const size = L.xen_domctl_getdomaininfo!.size;
          list.forEach((d, i) => this.writeInfo(this.mem.at(buffer + BigInt(i * size), size), 0, d));
          v.setUint32(u + f.num_domains!, list.length, true);
          return 0;
        }
        return -38;
      }
      default:
        return -38;
    }
  }

  private writeInfo(v: DataView, base: number, d: FakeDomain): void {
    const f = gcc(this.release).xen_domctl_getdomaininfo!.fields;
    v.setUint16(base + f.domain!, d.domid, true);
    v.setUint32(base + f.flags!, (d.paused ? 1 << 3 : 1 << 5) | 0xffff0000, true);
    v.setBigUint64(base + f.tot_pages!, BigInt(256 * (d.domid + 1)), true);
    v.setUint32(base + f.max_vcpu_id!, d.maxVcpus - 1, true);
    v.setUint32(base + f.nr_online_vcpus!, d.domid === 0 ? d.maxVcpus : 0, true);
    v.setBigUint64(base + f.cpu_time!, 1_500_000_000n, true);
  }
}

function fakeFfi(xen: FakeXen): Ffi {
  const ok = <T>(value: T): Sys<T> => ({ ok: true, value });
  return {
    open: () => ok(3),
    close: () => undefined,
    ioctl: (_fd, request, arg) => {
      if (request === IOCTL_PRIVCMD_MMAPBATCH_V2) {
        // Like Linux: per-frame errors go to err[] and the ioctl still succeeds.
        const req = xen.mem.at(arg, 32);
        const num = req.getUint32(0, true);
        const arr = xen.mem.at(req.getBigUint64(16, true), num * 8);
        const err = xen.mem.at(req.getBigUint64(24, true), num * 4);
        for (let i = 0; i < num; i++) err.setInt32(i * 4, arr.getBigUint64(i * 8, true) === 0xdeadn ? -22 : 0, true);
        return ok(0);
      }
      if (request !== IOCTL_PRIVCMD_HYPERCALL) return { ok: false, errno: 25 };
      const call = xen.mem.at(arg, 48);
      const args = [0, 1, 2, 3, 4].map((i) => call.getBigUint64(8 + i * 8, true));
      const r = xen.hypercall(Number(call.getBigUint64(0, true)), args);
      return r < 0 ? { ok: false, errno: -r } : ok(r);
    },
    mmap: (length) => ok(xen.mem.map(length)),
    munmap: () => ok(0),
    madvise: () => ok(0),
    read: () => ok(0),
    write: () => ok(0),
    view: (addr) => {
      const region = xen.mem.regions.get(addr);
      if (!region) throw new Error('view of an address that is not a region base');
      return region.buffer as ArrayBuffer;
    },
    pollReadable: () => ({ stop() {}, close() {}, unref() {}, ref() {} }),
  };
}

function open(release: '4.17' | '4.20', domctlVersion?: number) {
  const xen = new FakeXen(release, new FakeMemory(), domctlVersion);
  const calls = XenCalls.probe(PrivcmdDevice.open(fakeFfi(xen), '/dev/xen/privcmd'));
  return { xen, calls };
}

describe('XenCalls over a fake privcmd', () => {
  for (const release of ['4.17', '4.20'] as const) {
    it(`${release}: createdomain fields land at gcc's offsets for that release`, () => {
      const { xen, calls } = open(release);
      expect(calls.abi.release).toBe(release);
      const domid = calls.createDomain({ maxVcpus: 3, uuid: 'ff000000-0000-0000-0000-000000000000', maxGrantVersion: 2 });
      expect(domid).toBe(1);
      expect(xen.lastCreate).toMatchObject({ max_vcpus: 3, max_evtchn_port: 1023, grant_opts: 2, max_grant_frames: 0xffffffff, cpupool_id: 0, handle: 0xff });
      if (release === '4.20') expect(xen.lastCreate.altp2m_opts).toBe(0);
    });

    it(`${release}: lists domains through the nested buffer and decodes them`, () => {
      const { calls } = open(release);
      calls.createDomain({ maxVcpus: 1 });
      const list = calls.listDomains();
      expect(list.map((d) => [d.domid, d.paused, d.running, d.totPages, d.maxVcpuId, d.shutdownCode])).toEqual([
        [0, false, true, 256n, 1, undefined],
        [1, true, false, 512n, 0, undefined],
      ]);
    });
  }

  it('scheduler parameters: sched_id, then scheduler_op getinfo at gcc offsets (credit2, credit); name only otherwise', () => {
    const { xen, calls } = open('4.17');
    xen.domains[0]!.weight = 512;
    xen.domains[0]!.cap = 50;
    expect(calls.schedParams(0)).toEqual({ scheduler: 'credit2', weight: 512, cap: 50 });
    xen.schedId = 5;
    expect(calls.schedParams(0)).toEqual({ scheduler: 'credit', weight: 512, cap: 50 });
    xen.schedId = 9;
    expect(calls.schedParams(0)).toEqual({ scheduler: 'null' });
    xen.schedId = 6;
    expect(() => calls.schedParams(7)).toThrow(/7/);
  });

  it('4.17: getdomaininfo of a missing domain answering for the next one is "no such domain"', () => {
    const { xen, calls } = open('4.17');
    calls.createDomain({ maxVcpus: 1 });
    calls.createDomain({ maxVcpus: 1 });
    xen.domains.splice(1, 1); // domain 1 gone, 2 remains: raw Xen answers for 2
    expect(calls.getDomainInfo(1)).toBeUndefined();
    expect(calls.getDomainInfo(2)?.domid).toBe(2);
  });

  it('maps errnos: ESRCH, EINVAL, and EACCES naming the versions', () => {
    const { calls } = open('4.17');
    expect(() => calls.pause(9)).toThrow(expect.objectContaining({ code: 'TXL_HV_NO_DOMAIN' }));
    calls.createDomain({ maxVcpus: 1 });
    calls.unpause(1);
    expect(() => calls.unpause(1)).toThrow(expect.objectContaining({ code: 'TXL_HV_EINVAL', errno: 'EINVAL' }));
    const refused = open('4.17', 0x14).calls;
    try {
      refused.pause(0);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(HypervisorError);
      const e = error as HypervisorError;
      expect(e.code).toBe('TXL_HV_ABI');
      expect(e.message).toContain('Xen 4.17 refused');
      expect(e.hint).toContain('0x15');
    }
  });

  it('foreign mappings fail when any frame fails, even though the ioctl returned 0', () => {
    const { calls } = open('4.17');
    const good = calls.device.mapForeign(1, [0x100, 0x101]);
    expect(good.bytes.length).toBe(8192);
    good.unmap();
    try {
      calls.device.mapForeign(1, [0x100, 0xdead, 0x102]);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PrivcmdError);
      expect((error as PrivcmdError).errno).toBe(22);
      expect((error as PrivcmdError).frameErrors).toEqual([0, 22, 0]);
    }
  });

  it('refuses a Xen release it has no layouts for, naming it', () => {
    const xen = new FakeXen('4.17', new FakeMemory());
    xen.hypercall = (op) => (op === 17 ? (4 << 16) | 18 : -38);
    expect(() => XenCalls.probe(PrivcmdDevice.open(fakeFfi(xen), '/dev/xen/privcmd'))).toThrow(/Xen 4\.18 is not supported.*4\.17 and 4\.20/);
  });
});
