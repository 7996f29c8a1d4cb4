// txl's PV builder gives a guest 2 GiB and 4 vcpus on real Xen (4.17 and 4.20), and the guest sees them:
// Debian's kernel (the lab's dom0 kernel) with the busybox test initrd reports, from inside, its CPUs
// (/proc/cpuinfo, /sys/devices/system/cpu/online), the RAM it found at boot and MemTotal, then powers off.
//
// The shared lab of the other files (tests/xen/lab-session.ts: QEMU 2 GiB, dom0 1 GiB) leaves about
// 1000 MiB for guests, so this file boots its own lab per version with QEMU 4 GiB (dom0 still 1 GiB,
// about 3 GiB free for guests) and stops it in afterAll: only this file pays for the bigger machine.
// Runtime per version, seen on a host at load average 8-9 (3 other QEMUs): 4.17 278 s, 4.20 254 s (lab
// boot 70-90 s; in the create, loading the kernel 15 s (xz, 6.1) / 41 s (zstd, 6.12), the 2 GiB build
// 3-7 s; the guest's boot to /init 80 s). The facts seen: cpus=4 online=0-3, physkb=2104956 on both,
// MemTotal 2003972 kB (6.1) / 2010796 kB (6.12).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootLab, type BootedLab } from '../../lab/index.js';
import { INIT_MARKER } from '../../domain-builder/testing/initrd.js';
import { buildIn, debianGuestFiles, initFact as fact, leftovers } from './builder-lab.js';

const GUEST_MIB = 2048;
const VCPUS = 4;

for (const xen of ['4.17', '4.20'] as const) {
  describe(`txl's PV builder on Xen ${xen}, lab with QEMU 4 GiB`, () => {
    let lab: BootedLab | undefined;
    let kernel: string;
    let initrd: string;

    beforeAll(async () => {
      ({ kernel, initrd } = await debianGuestFiles(xen));
      lab = await bootLab({ xen, memoryMiB: 4096, dom0MemoryMiB: 1024 });
    }, 20 * 60_000);

    afterAll(async () => {
      await lab?.shutdown();
    }, 5 * 60_000);

    it(`builds a ${GUEST_MIB} MiB, ${VCPUS}-vcpu guest that sees that memory and those vcpus, and leaves nothing behind`, async () => {
      const dom0 = lab!;
      const free = await dom0.exec(['sh', '-c', "xl info | awk '/^free_memory/ {print $3}'"], { timeoutMs: 300_000 });
      expect(Number(free.stdout), `xl info free_memory: ${free.stdout} ${free.stderr}`).toBeGreaterThan(GUEST_MIB + 64);

      const run = await buildIn(dom0, [
        '--kernel', kernel, '--ramdisk', initrd, '--memory', String(GUEST_MIB), '--vcpus', String(VCPUS),
        '--name', `txl-2g-${xen.replace('.', '')}`, '--cmdline', 'console=hvc0',
        '--wait', INIT_MARKER, '--wait-shutdown', '--timeout', String(12 * 60_000),
      ], 15 * 60_000);
      expect(run.error, JSON.stringify(run.error)).toBeUndefined();
      expect(run.ok).toBe(true);
      expect(run.marker, run.console?.slice(-3000)).toBe(true);
      const text = run.console!;
      const facts = new RegExp(`${INIT_MARKER}[^\r\n]*`).exec(text)?.[0] ?? '';
      process.stderr.write(`builder-2g ${xen}: ${facts}; txl ops (ms) ${JSON.stringify(run.ops)}\n`);

      expect(Number(fact(text, 'cpus')), facts).toBe(VCPUS);
      expect(fact(text, 'online'), facts).toBe(`0-${VCPUS - 1}`);
      // The RAM the kernel found at boot (its "Memory: a/bK available" line): the 2 GiB, give or take the
      // ranges a PV kernel counts beside its pages (seen: 2104956 kB, 7.6 MiB above, on 6.1 and 6.12).
      const physKiB = Number(fact(text, 'physkb'));
      expect(physKiB, facts).toBeGreaterThan((GUEST_MIB - 1) * 1024);
      expect(physKiB, facts).toBeLessThanOrEqual((GUEST_MIB + 16) * 1024);
      // MemTotal: less the kernel's image, struct pages (32 MiB for 2 GiB) and reservations (seen:
      // 2003972 kB on bookworm's 6.1).
      const memKiB = Number(fact(text, 'memkb'));
      expect(memKiB, facts).toBeGreaterThan((GUEST_MIB - 160) * 1024);
      expect(memKiB, facts).toBeLessThanOrEqual(GUEST_MIB * 1024);
      expect(run.shutdownCode).toBe(0); // SHUTDOWN_poweroff, as the initrd's /init asked

      expect(await leftovers(dom0)).toEqual({ domains: [], xenstore: [] });
    }, 20 * 60_000);
  });
}
