import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createImage } from './disk.js';
import { formatInspection, inspectImage, interfacesIn, parseDpkgStatus } from './inspect.js';
import { SpawnRunner } from './runner.js';

const base = mkdtempSync(join(tmpdir(), 'txl-inspect-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const runner = new SpawnRunner();

function tree(name: string, files: Record<string, string>, links: Record<string, string> = {}): string {
  const root = join(base, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  for (const [path, target] of Object.entries(links)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    symlinkSync(target, join(root, path));
  }
  return root;
}

const dpkg = (pkgs: Record<string, string>): string =>
  Object.entries(pkgs)
    .map(([p, v]) => `Package: ${p}\nStatus: install ok installed\nVersion: ${v}\n`)
    .join('\n');

describe('inspectImage', () => {
  it('reads a systemd Debian root without mounting it: os-release via its symlink, kernel, getty, network, fstab', async () => {
    const root = tree(
      'good',
      {
        'usr/lib/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
        'lib/systemd/systemd': '',
        'lib/systemd/system/serial-getty@.service': '',
        'var/lib/dpkg/status': dpkg({ udev: '252.30-1~deb12u2', systemd: '252.30-1~deb12u2' }),
        'boot/vmlinuz-6.1.0-50-cloud-amd64': 'XEN-PV-KERNEL',
        'boot/initrd.img-6.1.0-50-cloud-amd64': 'initrd',
        'boot/config-6.1.0-50-cloud-amd64': 'CONFIG_XEN_PV=y\nCONFIG_HVC_XEN=y\nCONFIG_XEN_BLKDEV_FRONTEND=m\nCONFIG_XEN_NETDEV_FRONTEND=m\n',
        'boot/vmlinuz-5.10.0-99-amd64': 'NOT-A-KERNEL',
        'etc/network/interfaces': 'auto lo\niface lo inet loopback\nallow-hotplug enX0\niface enX0 inet dhcp\n',
        'etc/fstab': '# comment\n/dev/xvda / ext4 errors=remount-ro 0 1\n',
        'etc/hostname': 'web1\n',
      },
      {
        'etc/os-release': '../usr/lib/os-release',
        'sbin/init': '/lib/systemd/systemd',
        'etc/systemd/system/getty.target.wants/serial-getty@hvc0.service': '/lib/systemd/system/serial-getty@.service',
      },
    );
    const image = join(base, 'good.img');
    await createImage({ path: image, sizeBytes: 32 * 1024 * 1024, filesystem: 'ext4', partitioned: true, fromDirectory: root }, runner);
    const seen: string[] = [];
    const r = await inspectImage(image, {
      runner,
      checkKernel: async (bytes, source) => {
        seen.push(source);
        const text = Buffer.from(bytes).toString();
        return text === 'XEN-PV-KERNEL' ? { pv: true, detail: 'notes ok' } : { pv: false, detail: 'no Xen ELF notes' };
      },
    });
    expect(r.filesystemOffset).toBe(1048576);
    expect([r.partitionTable, r.partition]).toEqual(['gpt', 1]);
    expect(formatInspection(r)).toContain('in GPT partition 1 at offset 1048576');
    expect(r.distribution).toEqual({ id: 'debian', version: '12', codename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
    expect(r.init).toBe('systemd');
    expect(r.hostname).toBe('web1');
    expect(r.kernels.map((k) => [k.version, k.pv, k.initrd])).toEqual([
      ['5.10.0-99-amd64', false, undefined],
      ['6.1.0-50-cloud-amd64', true, '/boot/initrd.img-6.1.0-50-cloud-amd64'],
    ]);
    expect(seen).toHaveLength(2);
    expect(r.console).toEqual({ hvc0: true, how: 'serial-getty@hvc0.service enabled' });
    expect(r.network).toMatchObject({ renderer: 'ifupdown', interfaces: ['enX0'] });
    expect(r.warnings).toEqual(['kernel 5.10.0-99-amd64 cannot boot as a Xen PV guest: no Xen ELF notes']);
    expect(formatInspection(r)).toContain('6.1.0-50-cloud-amd64: boots as Xen PV (notes ok)');
  });

  it('warns about a classic guest that will not work on a new Xen setup', async () => {
    const root = tree('classic', {
      'etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n',
      'etc/inittab': 'id:2:initdefault:\n1:2345:respawn:/sbin/getty 38400 tty1\n',
      'sbin/init': '',
      'var/lib/dpkg/status': dpkg({ udev: '252.30-1~deb12u2' }),
      'etc/network/interfaces': 'auto eth0\niface eth0 inet dhcp\n',
      'etc/fstab': '/dev/sda1 / ext3 defaults 0 1\n',
      'etc/initramfs-tools/initramfs.conf': 'MODULES=dep\n',
    });
    const image = join(base, 'classic.img');
    await createImage({ path: image, sizeBytes: 32 * 1024 * 1024, filesystem: 'ext3', partitioned: false, fromDirectory: root }, runner);
    const r = await inspectImage(image, { runner });
    expect(r.init).toBe('sysvinit');
    const text = r.warnings.join('\n');
    expect(text).toContain('no kernel in /boot');
    expect(text).toContain('MODULES=dep');
    expect(text).toContain("no getty on hvc0 (no hvc0 getty in /etc/inittab): 'xl console' will show no login: prompt");
    expect(text).toContain('network config names eth0 but the Xen NIC will be enX0 (udev/systemd 252)');
    expect(text).toContain('/etc/fstab mounts / from /dev/sda1: Xen PV disks are /dev/xvd*');
  });

  it('says when the file has no ext filesystem', async () => {
    const image = join(base, 'blank.img');
    writeFileSync(image, Buffer.alloc(1024 * 1024));
    await expect(inspectImage(image, { runner })).rejects.toThrow(/no ext2\/3\/4 filesystem found/);
  });
});

describe('parsers', () => {
  it('finds interface names in ifupdown, networkd and netplan files', () => {
    expect(interfacesIn('networkd', '[Match]\nName=enX0 eth*\n')).toEqual(['enX0', 'eth*']);
    expect(interfacesIn('netplan', 'network:\n  ethernets:\n    enX0:\n      dhcp4: true\n')).toEqual(['enX0']);
    expect(parseDpkgStatus('Package: a\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: b\nStatus: install ok installed\nVersion: 2\n')).toEqual({ b: '2' });
  });
});
