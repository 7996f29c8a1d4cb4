// txl's own PV domain builder on real Xen (4.17 and 4.20 under QEMU), no libxenguest involved: the
// fixture minikernel greets, reads its xenstore key and shuts down as told; Debian's stock kernel (the
// lab's dom0 kernel: bookworm's on 4.17, trixie's on 4.20) with a busybox initrd reaches /init with the
// 4 vcpus and the memory it was given, and powers off as told; bad input leaves nothing behind.
// Runs bench/build-dom0 (planCreate + executeCreate over privcmd) in dom0.
//
// Sizes: the shared lab (tests/xen/lab-session.ts) is QEMU -m 2048 with 1 GiB for dom0, which leaves
// about 1000 MiB for guests, so the Debian guest here has 512 MiB (4 vcpus). The 2 GiB, 4-vcpu
// guest is builder-2g.test.ts, which boots its own 4 GiB lab, so that the other files keep their 2 GiB
// QEMUs. Runtime: ~4.5 min per version on a host loaded with 6+ other QEMUs (Debian's zstd/xz kernel loads through libzstd/liblzma, see domain-builder/kernel/native.ts).
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LabMachine } from '../../lab/index.js';
import { INIT_MARKER } from '../../domain-builder/testing/initrd.js';
import { buildMinikernel } from '../../lab/fixtures/index.js';
import { BUILDER_LAB_DIR as work, buildIn, debianGuestFiles, initFact, leftovers } from './builder-lab.js';
import { labFor } from './lab-session.js';

const fact = (consoleText: string, key: string): number => Number(initFact(consoleText, key));

for (const xen of ['4.17', '4.20'] as const) {
  describe(`txl's PV builder on Xen ${xen}`, () => {
    let lab: LabMachine;
    let kernel: string;
    let initrd: string;
    let minikernel: string;

    beforeAll(async () => {
      ({ kernel, initrd } = await debianGuestFiles(xen));
      minikernel = await buildMinikernel();
      lab = await labFor(xen);
    }, 30 * 60_000);

    // Two shutdown codes here (tests/xen/create.test.ts boots it through `txl create -c` as well).
    const minikernelCases = [
      { cmdline: 'poweroff', memory: '16', key: 'name', shutdownCode: 0, action: 'poweroff' },
      { cmdline: 'xenstore=no-such-key crash', memory: '32', key: 'no-such-key', shutdownCode: 3, action: 'crash' },
    ];
    for (const c of minikernelCases) {
      it(`boots the fixture minikernel in ${c.memory} MiB: greets, reads xenstore ${c.key}, shuts down (${c.action}) as told`, async () => {
        const name = `txl-mini-${xen.replace('.', '')}-${c.action}`;
        const run = await buildIn(lab, [
          '--kernel', minikernel, '--memory', c.memory, '--name', name, '--cmdline', c.cmdline,
          '--wait', 'txl-minikernel: shutting down', '--wait-shutdown', '--timeout', String(5 * 60_000),
        ]);
        expect(run.error, JSON.stringify(run.error)).toBeUndefined();
        expect(run.marker, run.console).toBe(true);
        expect(run.console).toContain(`txl-minikernel: hello cmdline=${c.cmdline}`);
        expect(run.console).toMatch(new RegExp(`txl-minikernel: xen ${xen.replace('.', '\\.')}, ${Number(c.memory) * 256} pages`));
        const expected = c.key === 'name' ? `xenstore name=${name}` : 'xenstore no-such-key error=ENOENT';
        expect(run.console).toContain(`txl-minikernel: ${expected}`);
        expect(run.console).toContain(`txl-minikernel: shutting down: ${c.action}`);
        expect(run.shutdownCode).toBe(c.shutdownCode);
        expect(run.buildSteps && Object.keys(run.buildSteps)).toContain('hypercallInit');
      }, 15 * 60_000);
    }

    // Guests a failed test left behind are destroyed after it (the test itself asserts there are none).
    afterEach(async () => {
      const list = await lab.exec(['xl', 'list'], { timeoutMs: 600_000 });
      for (const row of list.stdout.split('\n').slice(1)) {
        const id = /^\S+\s+(\d+)\s/.exec(row.trim())?.[1];
        if (id && id !== '0') await lab.exec(['xl', 'destroy', id], { timeoutMs: 600_000 });
      }
    }, 20 * 60_000);

    // 4 vCPUs on the lab's 2 physical CPUs, 512 MiB: what fits beside the other guests of the shared lab.
    it('boots Debian\'s kernel + busybox initrd to /init with 4 vcpus and its memory, then powers off as told', async () => {
      const memoryMiB = 512;
      const run = await buildIn(lab, [
        '--kernel', kernel, '--ramdisk', initrd, '--memory', String(memoryMiB), '--vcpus', '4', '--name', `txl-builder-${xen}`,
        '--cmdline', 'console=hvc0', '--wait', INIT_MARKER, '--wait-shutdown', '--timeout', String(12 * 60_000),
      ]);
      expect(run.error, JSON.stringify(run.error)).toBeUndefined();
      expect(run.ok).toBe(true);
      expect(run.marker, run.console?.slice(-3000)).toBe(true);
      expect(fact(run.console!, 'cpus')).toBe(4);
      // MemTotal is memory= minus what the kernel reserves for itself (its image, page tables, struct
      // pages): about 50 MiB for 256 MiB on 6.1 (seen: 207636 kB).
      expect(fact(run.console!, 'memkb')).toBeGreaterThan((memoryMiB - 96) * 1024);
      expect(fact(run.console!, 'memkb')).toBeLessThanOrEqual(memoryMiB * 1024);
      expect(run.shutdownCode).toBe(0); // SHUTDOWN_poweroff
      expect(run.buildSteps && Object.keys(run.buildSteps)).toContain('pinTopLevelTable');
      expect(await leftovers(lab)).toEqual({ domains: [], xenstore: [] });
    }, 25 * 60_000);

    it('refuses an initrd larger than the guest\'s memory, leaving nothing behind', async () => {
      const big = join(work, 'initrd-80m');
      if (!existsSync(big)) writeFileSync(big, Buffer.alloc(80 << 20, 0x5a));
      // 128 MiB holds the 16 MiB pad and the kernel (about 60 MiB with its bss), not an 80 MiB initrd too.
      const run = await buildIn(lab, ['--kernel', kernel, '--ramdisk', big, '--memory', '128', '--name', `txl-too-big-${xen}`]);
      expect(run.ok).toBe(false);
      expect(run.error?.code).toBe('TXL_LAYOUT_NO_MEMORY');
      expect(run.error?.message).toContain('initrd (80 MiB) does not fit');
      expect(await leftovers(lab)).toEqual({ domains: [], xenstore: [] });
    }, 20 * 60_000);

    it('refuses a kernel that is not a PV kernel, leaving nothing behind', async () => {
      const notPv = join(work, 'not-a-kernel');
      writeFileSync(notPv, '#!/bin/sh\necho this is not a kernel\n');
      const run = await buildIn(lab, ['--kernel', notPv, '--memory', '64', '--name', `txl-not-pv-${xen}`]);
      expect(run.ok).toBe(false);
      expect(run.error?.code).toBe('TXL_KERNEL_UNRECOGNISED');
      expect(await leftovers(lab)).toEqual({ domains: [], xenstore: [] });
    }, 20 * 60_000);
  });
}
