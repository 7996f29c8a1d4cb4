// txl image / txl template through the CLI in-process (main(argv, io)): what users type and see.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../toolstack/cli/command.js';
import { main } from '../../toolstack/cli/main.js';

async function runTxl(argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), stdin: process.stdin, stdoutIsTTY: false };
  const status = await main(argv, io);
  return { status, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'txl-image-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('txl template', () => {
  it('lists the templates', async () => {
    const r = await runTxl(['template', 'list']);
    expect(r.status).toBe(0);
    expect(r.out.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0])).toEqual(['debian-bookworm', 'debian-trixie', 'ubuntu-jammy', 'ubuntu-lucid', 'ubuntu-noble']);
  });

  it('shows a template with its overlay and resolved packages', async () => {
    const r = await runTxl(['template', 'show', 'debian-bookworm']);
    expect(r.status).toBe(0);
    expect(r.out).toContain('suite: bookworm');
    expect(r.out).toContain('/etc/systemd/system/ssh-hostkeys.service');
    expect(r.out).toMatch(/# packages: .*linux-image-cloud-amd64/);
  });

  it('suggests the nearest template name', async () => {
    const r = await runTxl(['template', 'show', 'debian-bookwrom']);
    expect(r.status).toBe(1);
    expect(r.err).toContain("no template named 'debian-bookwrom' (did you mean 'debian-bookworm'?)");
  });

  it('writes a new recipe from a template, which then plans', async () => {
    const file = join(dir, 'web1.yaml');
    const r = await runTxl(['template', 'new', 'web1', '--from', 'debian-bookworm', '-o', file]);
    expect(r.status, r.err).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^template: debian-bookworm$/m);
    const again = await runTxl(['template', 'new', 'web1', '--from', 'debian-bookworm', '-o', file]);
    expect(again.status).toBe(1);
    expect(again.err).toContain('already exists');
    const plan = await runTxl(['image', 'build', file, '--dry-run', '-o', join(dir, 'out')]);
    expect(plan.status, plan.err).toBe(0);
    expect(plan.out).toContain('build web1 from');
    expect(plan.out).toContain(`${join(dir, 'out')}/web1.img`);
    expect(existsSync(join(dir, 'out'))).toBe(false); // a dry run writes nothing
  });

  it('migrates ubuntu-lucid to a Debian recipe and explains each decision', async () => {
    const file = join(dir, 'lucid2deb.yaml');
    const r = await runTxl(['template', 'new', 'oldbox', '--from', 'ubuntu-lucid', '--debian', '-o', file]);
    expect(r.status, r.err).toBe(0);
    expect(r.out).toContain('init: upstart -> systemd');
    expect(r.out).toContain('network.interface: eth0 -> enX0');
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^template: debian-bookworm$/m);
    expect(text).toContain('# Migration decisions (Ubuntu -> Debian):');
    const show = await runTxl(['template', 'show', file, '--json']);
    const resolved = JSON.parse(show.out) as { recipe: { distribution: string; init: string; network: { interface: string }; filesystem: string } };
    expect(resolved.recipe).toMatchObject({ distribution: 'debian', init: 'systemd', network: { interface: 'enX0' }, filesystem: 'ext3' });
  });

  it('migrates the classic ubuntu.cfg guest (name, memory, disk) to a Debian recipe', async () => {
    const file = join(dir, 'fromcfg.yaml');
    const r = await runTxl(['template', 'new', 'ubuntu', '--from', 'tests/corpus/ubuntu.cfg', '--ubuntu-suite', 'lucid', '-o', file]);
    expect(r.status, r.err).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^template: debian-bookworm$/m);
    expect(text).toMatch(/^ {2}memory: 64$/m);
    expect(text).toMatch(/^ {2}bridge: eth0$/m);
    expect(text).toMatch(/^ {2}dhcp: true$/m);
  });
});

describe('txl image', () => {
  it('creates a sparse image, grows it and inspects it', async () => {
    const img = join(dir, 'disk.img');
    const c = await runTxl(['image', 'create', img, '--size', '1G', '--json']);
    expect(c.status, c.err).toBe(0);
    const made = JSON.parse(c.out) as { apparentBytes: number; allocatedBytes: number };
    expect(made.apparentBytes).toBe(1024 ** 3);
    expect(made.allocatedBytes).toBeLessThan(made.apparentBytes / 10);
    const g = await runTxl(['image', 'resize', img, '--size', '+512M']);
    expect(g.status, g.err).toBe(0);
    expect(statSync(img).size).toBe(1.5 * 1024 ** 3);
    const i = await runTxl(['image', 'inspect', img]);
    expect(i.status, i.err).toBe(0);
    expect(i.out).toContain('warning: no /etc/os-release: is this a root filesystem?');
    expect(i.out).toContain('warning: no kernel in /boot');
  });

  it('rejects bad sizes and existing files with clear messages', async () => {
    const bad = await runTxl(['image', 'create', join(dir, 'x.img'), '--size', '4 gigs']);
    expect(bad.status).toBe(1);
    expect(bad.err).toContain("--size: unknown unit 'gigs' in '4 gigs'");
    expect(bad.err).toContain('hint: units: B, K/KiB');
    expect(readdirSync(dir).filter((f) => f.includes('x.img'))).toEqual([]);
  });

  it('reports every recipe problem with its line and a suggestion', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'template: debian-bookworm\nhostnme: web\nnetwork:\n  dhcp: maybe\nsize: 100M\n');
    const r = await runTxl(['image', 'build', file, '--dry-run']);
    expect(r.status).toBe(1);
    expect(r.err).toContain(`${file}:2: hostnme: unknown key (did you mean 'hostname'?)`);
    expect(r.err).toContain(`${file}:4: network.dhcp: must be true or false, not 'maybe'`);
  });

  it('fails an Ubuntu build early and clearly on this Debian host', async () => {
    const r = await runTxl(['image', 'build', 'ubuntu-noble', '-o', join(dir, 'noble')]);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/mirror unreachable|keyring .* is not installed/);
    expect(existsSync(join(dir, 'noble', 'ubuntu-noble.img'))).toBe(false);
    expect(existsSync(join(dir, 'noble')) ? readdirSync(join(dir, 'noble')) : []).toEqual([]);
  }, 60_000);
});
