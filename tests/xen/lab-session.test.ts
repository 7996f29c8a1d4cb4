// The shared lab machines (labFor): both Xen versions answer, with the dom0 the contract promises.
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../lab/index.js';
import { labFor } from './lab-session.js';

describe.each(['4.17', '4.20'] as const)('the Xen %s lab', (xen) => {
  it('runs xl list and shows Domain-0', async () => {
    const lab = await labFor(xen);
    expect(lab.xen).toBe(xen);
    const r = await lab.exec(['xl', 'list']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Domain-0\s+0\s/m);
  });

  it('runs the real hypervisor of that version', async () => {
    const lab = await labFor(xen);
    const r = await lab.exec(['sh', '-c', 'cat /sys/hypervisor/version/major /sys/hypervisor/version/minor | paste -sd.']);
    expect(r.stdout.trim()).toBe(xen);
    expect(lab.console()).toContain(`Xen version ${xen}`);
  });

  it('has the dom0 services, devices and the checkout the lab promises', async () => {
    const lab = await labFor(xen);
    const root = repoRoot();
    const r = await lab.exec(['sh', '-c', [
      'pgrep -x xenstored >/dev/null && echo xenstored',
      'pgrep -x xenconsoled >/dev/null && echo xenconsoled',
      'test -d /var/log/xen/console && echo console-dir',
      'grep -q " /dev/pts devpts" /proc/mounts && echo devpts',
      'ip -o addr show xenbr0 | grep -q "inet " && echo xenbr0',
      'grep -q "^xen_blkback" /proc/modules && echo blkback',
      'grep -q "^xen_netback" /proc/modules && echo netback',
      'command -v readnotes >/dev/null && echo readnotes',
      'command -v xenstore-read >/dev/null && echo xenstore-tools',
      `test -f ${root}/package.json && echo checkout`,
      `touch ${root}/.lab-write-probe 2>/dev/null || echo checkout-read-only`,
      'txl --version',
    ].join('; ')]);
    expect(r.stdout.split('\n')).toEqual(expect.arrayContaining([
      'xenstored', 'xenconsoled', 'console-dir', 'devpts', 'xenbr0', 'blkback', 'netback', 'readnotes', 'xenstore-tools', 'checkout', 'checkout-read-only',
    ]));
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+$/m);
  });

  it('passes stdin, env and the exit status through exec', async () => {
    const lab = await labFor(xen);
    const r = await lab.exec(['sh', '-c', 'cat; echo "$GREETING" >&2; exit 5'], { stdin: 'in\n', env: { GREETING: 'hi' } });
    expect(r).toEqual({ status: 5, stdout: 'in\n', stderr: 'hi\n' });
  });

  it('kills a command past its timeout without losing the lab', async () => {
    const lab = await labFor(xen);
    await expect(lab.exec(['sleep', '600'], { timeoutMs: 2000 })).rejects.toMatchObject({ code: 'TXL_LAB_TIMEOUT' });
    const r = await lab.exec(['pgrep', '-x', 'sleep']);
    expect(r.status).toBe(1);
  });
});
