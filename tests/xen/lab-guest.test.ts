// The reference xl boots a PV guest in the lab (Debian's kernel + a tiny busybox initrd made here),
// with a disk through the lab's lean block script, and its console log shows the guest's output.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labGuestKernel, labGuestModules, repoRoot, type LabMachine, type XenVersion } from '../../lab/index.js';
import { labFor } from './lab-session.js';

/** A busybox initrd for `xen`'s kernel whose /init prints a marker, its disk's size, and powers off. */
async function busyboxInitrd(xen: XenVersion): Promise<string> {
  const dir = join(repoRoot(), '.cache', 'lab-tests');
  const out = join(dir, `guest-initrd-${xen}.gz`);
  const tree = join(dir, `guest-initrd-${xen}`);
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(join(tree, 'bin'), { recursive: true });
  const modules = await labGuestModules(xen);
  cpSync(modules, join(tree, 'modules'), { recursive: true });
  for (const d of ['dev', 'proc', 'sys']) mkdirSync(join(tree, d));
  copyFileSync('/bin/busybox', join(tree, 'bin', 'busybox'));
  writeFileSync(
    join(tree, 'init'),
    [
      '#!/bin/busybox sh',
      '/bin/busybox --install -s /bin',
      'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev',
      'for m in $(cat /modules/modules.list); do insmod /modules/$m; done',
      'echo "TXL-LAB-GUEST-UP cmdline=$(cat /proc/cmdline)"',
      'i=0; while [ ! -b /dev/xvda ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done',
      'if [ -b /dev/xvda ]; then echo "TXL-LAB-GUEST-DISK sectors=$(cat /sys/block/xvda/size)"; else echo TXL-LAB-GUEST-NODISK; fi',
      'echo TXL-LAB-GUEST-BYE',
      'poweroff -f',
      '',
    ].join('\n'),
  );
  chmodSync(join(tree, 'init'), 0o755);
  const r = spawnSync('sh', ['-c', `cd '${tree}' && find . | cpio --quiet -o -H newc | gzip -1 > '${out}'`]);
  if (r.status !== 0) throw new Error(`making the guest initrd failed: ${r.stderr.toString()}`);
  return out;
}

async function waitForLog(lab: LabMachine, log: string, marker: string, seconds: number): Promise<string> {
  const deadline = Date.now() + seconds * 1000;
  let text = '';
  while (Date.now() < deadline) {
    text = (await lab.exec(['sh', '-c', `cat '${log}' 2>/dev/null || true`])).stdout;
    if (text.includes(marker)) return text;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return text;
}

describe.each(['4.17', '4.20'] as const)('the reference xl in the Xen %s lab', (xen) => {
  it('boots a PV guest with a disk and its console log shows the guest output', async () => {
    const lab = await labFor(xen);
    const kernel = await labGuestKernel(xen);
    const initrd = await busyboxInitrd(xen);
    expect(existsSync(kernel)).toBe(true);
    const name = `labguest${xen.replace('.', '')}`;
    const cfgPath = join(repoRoot(), '.cache', 'lab-tests', `${name}.cfg`);
    writeFileSync(
      cfgPath,
      [
        `name = "${name}"`,
        `kernel = "${kernel}"`,
        `ramdisk = "${initrd}"`,
        'extra = "console=hvc0 txl-lab-test=1"',
        'memory = 128',
        'vcpus = 1',
        'on_poweroff = "destroy"',
        `disk = [ "format=raw,vdev=xvda,access=rw,script=block-lab,target=/tmp/${name}.img" ]`,
        '',
      ].join('\n'),
    );
    const log = `/var/log/xen/console/guest-${name}.log`;
    try {
      const prep = await lab.exec(['sh', '-c', `rm -f ${log}; truncate -s 16M /tmp/${name}.img`]);
      expect(prep.status).toBe(0);
      const created = await lab.exec(['xl', 'create', cfgPath], { timeoutMs: 300_000 });
      expect(created.stderr).not.toMatch(/error|fail/i);
      expect(created.status).toBe(0);
      const text = await waitForLog(lab, log, 'TXL-LAB-GUEST-BYE', 240);
      expect(text).toContain('TXL-LAB-GUEST-UP cmdline=console=hvc0 txl-lab-test=1');
      expect(text).toContain('TXL-LAB-GUEST-DISK sectors=32768');
      expect(text).toContain('TXL-LAB-GUEST-BYE');
    } finally {
      await lab.exec(['sh', '-c', `xl destroy ${name} 2>/dev/null; rm -f /tmp/${name}.img; true`], { timeoutMs: 120_000 });
    }
    // on_poweroff=destroy: the guest is gone, and the block script released its loop device.
    const left = await lab.exec(['sh', '-c', `sleep 2; xl list | grep -c '^${name} ' ; losetup -a | grep -c '${name}.img'`]);
    expect(left.stdout.split('\n').slice(0, 2)).toEqual(['0', '0']);
  });
});
