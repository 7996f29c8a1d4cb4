// `txl lab exec` end to end (spawning bin/txl, each call boots its own QEMU): status propagation,
// --add, --timeout, a crashing dom0, and no QEMU left behind in any of those cases.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../lab/index.js';

const root = repoRoot();
const work = mkdtempSync(join(tmpdir(), 'txl-lab-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** QEMU processes whose command line mentions `marker` (each run below uses its own TMPDIR). */
function qemusMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('qemu-system') && cmdline.includes(marker)) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

let runs = 0;
/** Runs `bin/txl lab exec ARGS` with a private TMPDIR; returns status, output and leftover QEMUs. */
async function labExec(args: string[], cwd = work): Promise<{ status: number | null; out: string; err: string; leftover: number[] }> {
  const tmp = join(work, `run${runs++}`);
  writeFileSync(join(work, '.keep'), '');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(tmp, { recursive: true });
  return new Promise((resolve, reject) => {
    const child = spawn(join(root, 'bin', 'txl'), ['lab', 'exec', ...args], { cwd, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, out, err, leftover: qemusMentioning(tmp) }));
  });
}

describe('txl lab exec', () => {
  it.each(['4.17', '4.20'])('runs the reference xl list in a Xen %s dom0', async (xen) => {
    const r = await labExec(['--xen', xen, '--', 'xl', 'list']);
    expect(r.err).not.toContain('txl:');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^Domain-0\s+0\s+\d+\s+\d+/m);
    expect(r.leftover).toEqual([]);
  });

  it('shows --add files at their paths, attaches --disk images, and exits with the command status', async () => {
    const file = join(work, 'added.txt');
    writeFileSync(file, 'hello from the host\n');
    const disk = join(work, 'disk.img');
    writeFileSync(disk, Buffer.alloc(4 * 1024 * 1024));
    const r = await labExec(['--add', 'added.txt', '--add', `${file}:/srv/elsewhere.txt`, '--disk', `${disk}:ro`, '--',
      'sh', '-c', 'cat added.txt /srv/elsewhere.txt; cat /sys/block/vdb/size /sys/block/vdb/ro; exit 3']);
    expect(r.out).toBe('hello from the host\nhello from the host\n8192\n1\n');
    expect(r.status).toBe(3);
    expect(r.leftover).toEqual([]);
  });

  it('kills a command that runs past --timeout, says so, and exits 124', async () => {
    const started = Date.now();
    const r = await labExec(['--timeout', '4', '--', 'sh', '-c', 'echo started; sleep 600']);
    expect(r.out).toContain('started');
    expect(r.status).toBe(124);
    expect(r.err).toMatch(/ran past its 4 s limit/);
    expect(Date.now() - started).toBeLessThan(300_000);
    expect(r.leftover).toEqual([]);
  });

  it('reports a dom0 crash with the crash lines and a non-zero status', async () => {
    const r = await labExec(['--xen', '4.20', '--', 'sh', '-c', 'echo c > /proc/sysrq-trigger; sleep 600']);
    expect(r.status).not.toBe(0);
    expect(r.err).toMatch(/lab crashed/);
    expect(r.err).toMatch(/Kernel panic - not syncing/);
    expect(r.leftover).toEqual([]);
  });

  it('refuses a missing --add path before booting anything', async () => {
    const r = await labExec(['--add', 'no-such-file', '--', 'true']);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/no-such-file does not exist on this host/);
    expect(r.leftover).toEqual([]);
  });
});
