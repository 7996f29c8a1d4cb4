// txl create with a disk and a vif on real Xen (4.17 and 4.20 under QEMU): Debian's kernel with the
// fixtures' busybox initrd mounts its ext4 xvda (an image made by mke2fs on the host, a loop device in
// dom0 set up by txl's native hotplug) read-write, writes a file, pings dom0 on xenbr0 through its vif,
// then powers off when asked; on_poweroff="destroy" carried out by txl leaves no loop device, no vif
// and no xenstore nodes, and dom0 reads the file. While it runs, txl block-list/network-list print
// exactly what xl block-list/network-list print.
//
// What only this file covers: txl create with devices on 4.20 (tests/xen/image.test.ts boots a Debian
// image with txl on 4.17 only), txl's -c monitor destroying a guest with devices, the guest's own view of
// its disk and vif, and block-list/network-list parity with xl.
// Passed under vitest on 2026-11-23 (one file and one version at a time, load 4-5 on the 2 cores):
// 4.17 in 118 s and 4.20 in 136 s after the lab's boot (~40 s).
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labGuestKernel, repoRoot, type LabMachine } from '../../lab/index.js';
import { buildGuestFixtures } from '../../lab/fixtures/index.js';
import { labFor } from './lab-session.js';

const work = join(repoRoot(), '.cache', 'devices-lab');

async function sh(lab: LabMachine, script: string, timeoutMs = 120_000): Promise<string> {
  const r = await lab.exec(['sh', '-c', script], { timeoutMs });
  if (r.status !== 0) throw new Error(`dom0: '${script}' exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** An ext4 image made on the host (mke2fs -d) with a marker file; dom0 sees it over the 9p checkout. */
function hostImage(name: string): string {
  const tree = join(work, `${name}.d`);
  const img = join(work, `${name}.img`);
  rmSync(tree, { recursive: true, force: true });
  rmSync(img, { force: true });
  mkdirSync(tree, { recursive: true });
  writeFileSync(join(tree, 'txl-fixture'), `made on the host for ${name}\n`);
  execFileSync('mke2fs', ['-q', '-t', 'ext4', '-F', '-d', tree, img, '16M'], { env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } });
  return img;
}

for (const xen of ['4.17', '4.20'] as const) {
  describe(`txl create with a disk and a vif on Xen ${xen}`, () => {
    it('the guest writes to its disk and pings dom0; -list output matches xl; nothing is left after it powers off', async () => {
      const lab = await labFor(xen);
      const tag = xen.replace('.', '');
      const name = `txl-dev-${tag}`;
      const kernel = await labGuestKernel(xen);
      const { busyboxInitrd } = await buildGuestFixtures({ xen });
      mkdirSync(work, { recursive: true });
      const hostImg = hostImage(name);
      const img = `/tmp/${name}.img`;
      const address = `192.168.210.${60 + Number(tag.slice(-2))}`;
      const cfg = join(work, `${name}.cfg`);
      writeFileSync(cfg, [
        `name = "${name}"`, `kernel = "${kernel}"`, `ramdisk = "${busyboxInitrd}"`,
        `extra = "console=hvc0 txl.rw txl.ip=${address}/24 txl.ping=192.168.210.1 txl.action=stay"`,
        'memory = 128', 'vcpus = 1', 'on_poweroff = "destroy"',
        `disk = [ "${img},raw,xvda,rw" ]`, 'vif = [ "bridge=xenbr0" ]', '',
      ].join('\n'));
      // The checkout is read-only in dom0: the guest writes to a copy in dom0's /tmp.
      await sh(lab, `txl destroy ${name} 2>/dev/null; cp ${hostImg} ${img}`);
      let console = '';
      const seen = (marker: string): boolean => console.includes(marker);
      try {
        const run = lab.exec(['txl', 'create', '-c', cfg], { timeoutMs: 600_000, onStdout: (c) => void (console += c.toString()) });
        let ended = false;
        void run.finally(() => (ended = true)).catch(() => undefined);
        const deadline = Date.now() + 300_000;
        while (!seen('txl-initrd: staying up') && !ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
        expect(console, 'the guest did not get to "staying up"').toContain('txl-initrd: staying up');
        expect(console).toContain(`txl-initrd: disk file txl-fixture=made on the host for ${name}`);
        expect(console).toContain('txl-initrd: disk write ok');
        expect(console).toMatch(new RegExp(`txl-initrd: eth0 up mac=00:16:3e(:[0-9a-f]{2}){3} addr=${address.replace(/\./g, '\\.')}/24`));
        expect(console).toContain('txl-initrd: ping 192.168.210.1 ok');

        // The same lines as xl's (tools/xl/xl_block.c, xl_nic.c) for the running guest.
        const lists = await sh(lab, `for c in block-list network-list; do txl $c ${name} > /tmp/${name}.txl.$c; xl $c ${name} > /tmp/${name}.xl.$c; done; ` +
          `cat /tmp/${name}.txl.block-list; echo ==; cat /tmp/${name}.xl.block-list; echo ==; cat /tmp/${name}.txl.network-list; echo ==; cat /tmp/${name}.xl.network-list`, 300_000);
        const [txlBlock, xlBlock, txlNet, xlNet] = lists.split('==\n');
        expect(txlBlock).toBe(xlBlock);
        expect(txlNet).toBe(xlNet);
        expect(txlBlock).toMatch(/^Vdev +BE +handle +state +evt-ch +ring-ref +BE-path +\n51712 +0 +\d+ +4 +\d+ +\d+ +\/local\/domain\/0\/backend\/vbd\/\d+\/51712 *\n$/);
        expect(txlNet).toMatch(/\n0 +0 +00:16:3e(:[0-9a-f]{2}){3} +0 +4 +-?\d+ +\d+\/\d+ +\/local\/domain\/0\/backend\/vif\/\d+\/0 *\n$/);
        const port = (await sh(lab, 'ip -o link show master xenbr0')).trim();
        expect(port).toMatch(/vif\d+\.0/);
        expect(await sh(lab, 'losetup -a')).toContain(img);

        // Ask the guest to power off as xl shutdown does; txl's monitor destroys it (on_poweroff).
        const domid = (await sh(lab, `xl domid ${name}`)).trim();
        await sh(lab, `xenstore-write /local/domain/${domid}/control/shutdown poweroff`);
        const r = await run;
        expect(r.status, `txl create -c: ${r.stderr}`).toBe(0);
        expect(console).toContain('txl-initrd: poweroff (asked)');
      } finally {
        // Never mask the test's own failure: a slow clean-up is reported by the checks below.
        await lab.exec(['sh', '-c', `xl list ${name} >/dev/null 2>&1 && txl destroy ${name}; true`], { timeoutMs: 300_000 }).catch(() => undefined);
      }
      // Nothing is left: no domain, no nodes, no loop device, no bridge port; the file is on the disk.
      expect(await sh(lab, `xl list | awk '$1 == "${name}"'`)).toBe('');
      expect((await sh(lab, 'xenstore-list /local/domain')).split('\n').filter((d) => d && d !== '0')).toEqual([]);
      expect(await sh(lab, `xenstore-ls /local/domain/0/backend 2>/dev/null | grep -E '^ +[0-9]+ =' || true`)).toBe('');
      expect(await sh(lab, 'losetup -a')).not.toContain(img);
      expect(await sh(lab, 'ip -o link show master xenbr0 || true')).toBe('');
      expect(await sh(lab, `debugfs -R 'cat /txl-initrd-was-here' ${img} 2>/dev/null; rm -f ${img} /tmp/${name}.*`)).toMatch(/^written by txl-initrd on 6\./);
    });
  });
}
