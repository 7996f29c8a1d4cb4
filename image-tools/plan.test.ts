import { describe, expect, it } from 'vitest';
import { parseXlCfg } from '../toolstack/config/index.js';
import { DEFER_FINISH, DEFER_SETUP, describePlan, DPKG_NODOC, guestFiles, NODOC_CLEANUP, packagesOf, planBuild } from './plan.js';
import { resolveRecipe } from './recipe.js';
import { listTemplates, loadRecipe } from './templates.js';

describe('templates', () => {
  it('lists the five templates, and each loads, resolves and renders its guest files', () => {
    const names = listTemplates().map((t) => t.name);
    expect(names).toEqual(['debian-bookworm', 'debian-trixie', 'ubuntu-jammy', 'ubuntu-lucid', 'ubuntu-noble']);
    for (const name of names) {
      const { recipe } = loadRecipe(name);
      expect(recipe.name).toBe(name);
      const files = Object.fromEntries(guestFiles(recipe).map((f) => [f.path, f.content]));
      expect(files['etc/fstab']).toMatch(/^\/dev\/xvda\t\/\text[34]\terrors=remount-ro\t0\t1$/m);
      expect(files['etc/hostname']).toBe(`${recipe.hostname}\n`);
      expect(Object.values(files).join('')).not.toContain('{{');
    }
  });

  it('writes the network and console the way each distribution expects', () => {
    const files = (name: string): Record<string, string> => Object.fromEntries(guestFiles(loadRecipe(name).recipe).map((f) => [f.path, f.content]));
    const bookworm = files('debian-bookworm');
    expect(bookworm['etc/network/interfaces']).toMatch(/^allow-hotplug enX0\niface enX0 inet dhcp$/m);
    expect(files('debian-trixie')['etc/systemd/network/10-txl.network']).toMatch(/Name=enX0[\s\S]*DHCP=ipv4/);
    expect(files('ubuntu-noble')['etc/netplan/01-txl.yaml']).toMatch(/ethernets:\n {4}enX0:\n {6}dhcp4: true/);
    expect(files('ubuntu-jammy')['etc/netplan/01-txl.yaml']).toContain('    eth0:');
    const lucid = files('ubuntu-lucid');
    expect(lucid['etc/network/interfaces']).toMatch(/^iface eth0 inet dhcp$/m);
    expect(lucid['etc/init/hvc0.conf']).toMatch(/^exec \/sbin\/getty -8 38400 hvc0$/m);
    expect(lucid['etc/init/hvc0.conf']).toMatch(/^start on stopped rc RUNLEVEL=\[2345\]$/m);
  });

  it('renders a static network for each renderer', () => {
    const base = { distribution: 'debian', suite: 'bookworm', network: { dhcp: false, address: '192.0.2.10/24', gateway: '192.0.2.1', nameservers: ['192.0.2.53'] } };
    for (const renderer of ['ifupdown', 'networkd', 'netplan'] as const) {
      const { recipe } = resolveRecipe({ ...base, network: { ...base.network, renderer } }, { file: 'r.yaml' });
      const text = guestFiles(recipe).map((f) => `${f.path}:\n${f.content}`).join('\n');
      expect(text).toContain('192.0.2.10/24');
      expect(text).toContain('192.0.2.1');
      expect(text).toContain('192.0.2.53');
      expect(text).not.toMatch(/dhcp4: true|inet dhcp|DHCP=/);
    }
  });
});

describe('planBuild', () => {
  const { recipe } = loadRecipe('debian-bookworm');
  const plan = planBuild(recipe, { outputDir: '/srv/xen', source: 'debian-bookworm', cacheRoot: '/var/cache/txl', mode: 'root', pid: 42, sourceDateEpoch: 1700000000 });

  it('is plain data with the outputs, the work folder and the bootstrap command', () => {
    expect(plan.outputs).toEqual({ dir: '/srv/xen', image: '/srv/xen/debian-bookworm.img', cfg: '/srv/xen/debian-bookworm.cfg', kernel: '/srv/xen/debian-bookworm.vmlinuz', initrd: '/srv/xen/debian-bookworm.initrd' });
    expect(plan.workDir).toBe('/srv/xen/.debian-bookworm.txl-build-42');
    expect(plan.aptCache).toBe('/var/cache/txl/debian-bookworm');
    expect(plan.bootstrap.env.SOURCE_DATE_EPOCH).toBe('1700000000');
    const argv = plan.bootstrap.argv;
    expect(argv.slice(0, 5)).toEqual(['flock', '/var/cache/txl/debian-bookworm/.lock', 'mmdebstrap', '--mode=root', '--variant=minbase']);
    expect(argv).toContain('--format=directory');
    expect(argv.find((a) => a.startsWith('--include='))).toContain('linux-image-cloud-amd64');
    expect(argv).toContain('--setup-hook=sync-in /var/cache/txl/debian-bookworm /var/cache/apt/archives/');
    expect(argv).toEqual(expect.arrayContaining(['--skip=download/empty', '--skip=essential/unlink'])); // every .deb reaches the cache
    // The initramfs is made once, after every package (DEFER_FINISH runs before customize.sh copies it out).
    const deferStart = argv.indexOf(`--chrooted-essential-hook=${DEFER_SETUP}`);
    const deferEnd = argv.indexOf(`--chrooted-customize-hook=${DEFER_FINISH}`);
    expect(deferStart).toBeGreaterThan(0);
    expect(deferEnd).toBeGreaterThan(deferStart);
    expect(deferEnd).toBeLessThan(argv.findIndex((a) => a.includes('customize.sh')));
    // dpkg skips fsync while building, and the option does not stay in the guest's dpkg configuration.
    const unsafe = argv.indexOf('--dpkgopt=force-unsafe-io');
    const unset = argv.findIndex((a) => a.startsWith('--customize-hook=sed') && a.includes('force-unsafe-io') && a.includes('/etc/dpkg/dpkg.cfg.d/99mmdebstrap'));
    expect(unsafe).toBeGreaterThan(0);
    expect(unset).toBeGreaterThan(unsafe);
    expect(argv.slice(-3)).toEqual(['bookworm', '/srv/xen/.debian-bookworm.txl-build-42/root', 'http://deb.debian.org/debian']);
    // No path filters as --dpkgopt (mmdebstrap would pipe each essential package through its Python tar
    // filter): the rules are installed by an extract hook, and the cleanup hook removes what came before.
    expect(argv.filter((a) => a.startsWith('--dpkgopt=path-'))).toEqual([]);
    expect(argv.find((a) => a.startsWith('--extract-hook='))).toContain('/srv/xen/.debian-bookworm.txl-build-42/stage/dpkg-nodoc.cfg');
    expect(plan.stageFiles.find((f) => f.path === 'dpkg-nodoc.cfg')?.content).toBe(DPKG_NODOC);
    expect(argv).toContain(`--customize-hook=${NODOC_CLEANUP}`);
    // Package lists are kept beside the .deb cache (not inside it: that folder is synced in whole).
    expect(argv).toContain('--setup-hook=sync-in /var/cache/txl/debian-bookworm-lists /var/lib/apt/lists/');
    expect(argv).toContain('--customize-hook=sync-out /var/lib/apt/lists /var/cache/txl/debian-bookworm-lists');
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
    expect(JSON.stringify(plan)).toBe(JSON.stringify(planBuild(recipe, { outputDir: '/srv/xen', source: 'debian-bookworm', cacheRoot: '/var/cache/txl', mode: 'root', pid: 42, sourceDateEpoch: 1700000000 })));
  });

  it('uses tar output in unshare mode and a keyring for Ubuntu', () => {
    const rootless = planBuild(recipe, { outputDir: '/o', source: 's', mode: 'unshare', pid: 1 });
    expect(rootless.bootstrap.argv).toContain('--format=tar');
    expect(rootless.rootDir).toBe('/o/.debian-bookworm.txl-build-1/rootfs.tar');
    const noble = planBuild(loadRecipe('ubuntu-noble').recipe, { outputDir: '/o', source: 's', mode: 'root' });
    expect(noble.keyring).toBe('/usr/share/keyrings/ubuntu-archive-keyring.gpg');
    expect(noble.bootstrap.argv).toContain('--keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg');
  });

  it('writes a cfg that xl reads with the image, kernel, initrd and hvc0', () => {
    const cfg = parseXlCfg(plan.cfgText, 'debian-bookworm.cfg');
    const json = JSON.stringify(cfg.toJSON());
    expect(json).toContain('/srv/xen/debian-bookworm.vmlinuz');
    expect(json).toContain('/srv/xen/debian-bookworm.initrd');
    expect(json).toContain('target=/srv/xen/debian-bookworm.img');
    expect(json).toContain('root=/dev/xvda ro console=hvc0');
    expect(json).toContain('bridge=xenbr0');
  });

  it('adds locales, tzdata and sudo when the recipe needs them, and prints as text', () => {
    const { recipe: r } = resolveRecipe(
      { distribution: 'debian', suite: 'bookworm', locale: 'de_DE.UTF-8', timezone: 'Europe/Berlin', users: [{ name: 'ann', groups: ['sudo'] }] },
      { file: 'r.yaml' },
    );
    expect(packagesOf(r)).toEqual(expect.arrayContaining(['locales', 'tzdata', 'sudo']));
    const text = describePlan(plan);
    expect(text).toContain('1. check the mirror: http://deb.debian.org/debian/dists/bookworm/Release');
    expect(text).toContain('mke2fs -t ext4 -U');
    expect(text).not.toContain('TXL_ROOT_HASH');
  });

  it('the documentation cleanup removes what the dpkg rules exclude and keeps copyright files', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, existsSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { SpawnRunner } = await import('./runner.js');
    const root = mkdtempSync(join(tmpdir(), 'txl-nodoc-'));
    try {
      const files = ['usr/share/doc/bash/copyright', 'usr/share/doc/bash/README.gz', 'usr/share/doc/bash/examples/x.sh', 'usr/share/man/man1/bash.1.gz', 'usr/share/locale/de/LC_MESSAGES/bash.mo', 'usr/share/locale/locale.alias', 'usr/share/zoneinfo/UTC'];
      for (const f of files) {
        mkdirSync(join(root, f, '..'), { recursive: true });
        writeFileSync(join(root, f), 'x');
      }
      symlinkSync('bash', join(root, 'usr/share/doc/bash-builtins'));
      const r = await new SpawnRunner().run(['sh', '-c', NODOC_CLEANUP, 'hook', root]);
      expect(r.status, r.stderr).toBe(0);
      const kept = (f: string): boolean => existsSync(join(root, f));
      expect(['usr/share/doc/bash/copyright', 'usr/share/locale/locale.alias', 'usr/share/zoneinfo/UTC'].filter(kept)).toHaveLength(3);
      expect(['usr/share/doc/bash/README.gz', 'usr/share/doc/bash/examples', 'usr/share/man/man1', 'usr/share/locale/de', 'usr/share/doc/bash-builtins'].filter(kept)).toEqual([]);
      expect(kept('usr/share/man')).toBe(true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('template overlays enable units with symlinks (systemd ignores regular files in .wants folders)', async () => {
    const { lstatSync, readdirSync, readlinkSync, existsSync } = await import('node:fs');
    const { join, dirname, resolve } = await import('node:path');
    const { templatesDir } = await import('./templates.js');
    const checked: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        const st = lstatSync(path);
        if (/\.(wants|requires)$/.test(dir)) {
          expect(st.isSymbolicLink(), `${path} must be a symlink`).toBe(true);
          const target = readlinkSync(path);
          // Relative links must point at a unit shipped in the same overlay.
          if (!target.startsWith('/')) expect(existsSync(resolve(dirname(path), target)), `${path} -> ${target}`).toBe(true);
          checked.push(path);
        } else if (st.isDirectory()) walk(path);
      }
    };
    for (const t of readdirSync(templatesDir())) if (existsSync(join(templatesDir(), t, 'overlay'))) walk(join(templatesDir(), t, 'overlay'));
    expect(checked.length).toBeGreaterThanOrEqual(4);
  });
});
