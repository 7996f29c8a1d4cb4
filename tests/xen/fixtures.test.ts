// The minimal PV kernel fixture on real Xen (4.17 and 4.20), booted by the reference xl: its console
// ring carries the greeting with its command line and the xenstore value it read, and each shutdown
// mode of its command line ends the domain the way Xen reports it (xl's reason codes, xl list state).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGuestFixtures, buildMinikernel, fixturesDir } from '../../lab/fixtures/index.js';
import { labGuestKernel, type LabMachine } from '../../lab/index.js';
import { labFor } from './lab-session.js';

/** Runs a shell command in dom0; fails the test with its output when it exits non-zero. */
async function sh(lab: LabMachine, script: string, timeoutMs = 120_000): Promise<string> {
  const r = await lab.exec(['sh', '-c', script], { timeoutMs });
  if (r.status !== 0) throw new Error(`dom0: '${script}' exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Polls a dom0 file until `done(text)` or the time is up; returns the last text read. */
async function waitForFile(lab: LabMachine, path: string, done: (text: string) => boolean, seconds: number): Promise<string> {
  const deadline = Date.now() + seconds * 1000;
  let text = '';
  while (Date.now() < deadline) {
    text = await sh(lab, `cat '${path}' 2>/dev/null || true`);
    if (done(text)) return text;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return text;
}

/** xl list's state column of `name` (e.g. "--ps--"), or undefined when the domain does not exist. */
async function xlState(lab: LabMachine, name: string): Promise<string | undefined> {
  const out = await sh(lab, `xl list 2>/dev/null | awk '$1 == "${name}" { print $5 }'`);
  return out.trim() || undefined;
}

/** Writes an xl.cfg for the minimal kernel under the checkout (dom0 sees it at the same path). */
function writeCfg(name: string, kernel: string, cmdline: string): string {
  const dir = join(fixturesDir(), 'lab-tests');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.cfg`);
  writeFileSync(
    path,
    [
      `name = "${name}"`,
      `kernel = "${kernel}"`,
      `cmdline = "${cmdline}"`,
      'memory = 16',
      'vcpus = 1',
      // Keep the domain after it stops, so its state can be read; the test destroys it.
      'on_poweroff = "preserve"',
      'on_reboot = "preserve"',
      'on_crash = "preserve"',
      '',
    ].join('\n'),
  );
  return path;
}

interface Booted {
  readonly name: string;
  readonly log: string;
  readonly domid: number;
}

/** `xl create`s the minimal kernel with `cmdline`, runs `check`, and destroys the domain whatever happens. */
async function withMinikernel(lab: LabMachine, name: string, cmdline: string, check: (b: Booted) => Promise<void>): Promise<void> {
  const kernel = await buildMinikernel();
  const cfg = writeCfg(name, kernel, cmdline);
  const log = `/var/log/xen/console/guest-${name}.log`;
  try {
    await sh(lab, `xl destroy ${name} 2>/dev/null; rm -f ${log} /var/log/xen/xl-${name}.log; true`);
    const created = await lab.exec(['xl', 'create', cfg], { timeoutMs: 120_000 });
    expect(created.status, `xl create: ${created.stdout}${created.stderr}`).toBe(0);
    const domid = Number((await sh(lab, `xl domid ${name}`)).trim());
    expect(Number.isInteger(domid) && domid > 0).toBe(true);
    await check({ name, log, domid });
  } finally {
    await lab.exec(['sh', '-c', `xl destroy ${name} 2>/dev/null; true`], { timeoutMs: 120_000 });
  }
  expect(await xlState(lab, name)).toBeUndefined();
}

/** The greeting and xenstore lines every mode prints. */
async function expectGreeting(lab: LabMachine, b: Booted, cmdline: string, xenstoreLine: string, lastLine: string): Promise<string> {
  const text = await waitForFile(lab, b.log, (t) => t.includes(lastLine), 120);
  expect(text).toContain(`txl-minikernel: hello cmdline=${cmdline}\r\n`);
  expect(text).toMatch(/txl-minikernel: xen 4\.(17|20), \d+ pages, console evtchn \d+, store evtchn \d+\r\n/);
  expect(text).toContain(`${xenstoreLine}\r\n`);
  expect(text).toContain(`${lastLine}\r\n`);
  // Kept for people reading a run: what the real hypervisor's console showed.
  writeFileSync(join(fixturesDir(), 'lab-tests', `${b.name}.console.log`), text);
  return text;
}

/** Waits for xl's monitor to log the shutdown reason code and returns xl list's state. */
async function expectShutdown(lab: LabMachine, b: Booted, reason: number): Promise<string | undefined> {
  const xlLog = `/var/log/xen/xl-${b.name}.log`;
  const text = await waitForFile(lab, xlLog, (t) => /Action for shutdown reason code/.test(t), 60);
  expect(text).toContain(`Domain ${b.domid} has shut down, reason code ${reason} `);
  expect(text).toContain(`Action for shutdown reason code ${reason} is preserve`);
  return xlState(lab, b.name);
}

describe.each(['4.17', '4.20'] as const)('the minimal PV kernel on Xen %s with the reference xl', (xen) => {
  const tag = xen.replace('.', '');

  it('greets with its command line, reads its xenstore name and powers off (reason 0)', async () => {
    const lab = await labFor(xen);
    const name = `txlfx-poweroff-${tag}`;
    await withMinikernel(lab, name, 'poweroff', async (b) => {
      await expectGreeting(lab, b, 'poweroff', `txl-minikernel: xenstore name=${name}`, 'txl-minikernel: shutting down: poweroff');
      expect(await expectShutdown(lab, b, 0)).toMatch(/^...s..$/);
    });
  });

  it('reads the xenstore key its command line names and reboots (reason 1)', async () => {
    const lab = await labFor(xen);
    const name = `txlfx-reboot-${tag}`;
    await withMinikernel(lab, name, 'xenstore=domid reboot', async (b) => {
      await expectGreeting(lab, b, 'xenstore=domid reboot', `txl-minikernel: xenstore domid=${b.domid}`, 'txl-minikernel: shutting down: reboot');
      expect(await expectShutdown(lab, b, 1)).toMatch(/^...s..$/);
    });
  });

  it('reports a missing xenstore key and crashes (reason 3, state c)', async () => {
    const lab = await labFor(xen);
    const name = `txlfx-crash-${tag}`;
    await withMinikernel(lab, name, 'xenstore=no-such-key crash', async (b) => {
      await expectGreeting(lab, b, 'xenstore=no-such-key crash', 'txl-minikernel: xenstore no-such-key error=ENOENT', 'txl-minikernel: shutting down: crash');
      expect(await expectShutdown(lab, b, 3)).toMatch(/^....c.$/);
    });
  });

  it('stays up, blocked, until destroyed', async () => {
    const lab = await labFor(xen);
    const name = `txlfx-stay-${tag}`;
    await withMinikernel(lab, name, 'stay', async (b) => {
      await expectGreeting(lab, b, 'stay', `txl-minikernel: xenstore name=${name}`, 'txl-minikernel: staying up');
      await new Promise((r) => setTimeout(r, 3000));
      // Running or blocked, neither shut down nor crashed, and no shutdown was logged by xl.
      expect(await xlState(lab, b.name)).toMatch(/^[r-][b-]----$/);
      const xlLog = await sh(lab, `cat /var/log/xen/xl-${name}.log 2>/dev/null || true`);
      expect(xlLog).not.toMatch(/has shut down/);
    });
  });
});

/** An xl.cfg for Debian's kernel with the busybox initrd. */
function writeLinuxCfg(name: string, kernel: string, initrd: string, extra: string, devices: readonly string[]): string {
  const dir = join(fixturesDir(), 'lab-tests');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.cfg`);
  writeFileSync(
    path,
    [`name = "${name}"`, `kernel = "${kernel}"`, `ramdisk = "${initrd}"`, `extra = "${extra}"`, 'memory = 256', 'vcpus = 1', 'on_poweroff = "destroy"', ...devices, ''].join(
      '\n',
    ),
  );
  return path;
}

describe.each(['4.17', '4.20'] as const)("the busybox initrd with Xen %s's Debian kernel and the reference xl", (xen) => {
  const tag = xen.replace('.', '');

  it('mounts its ext4 disk read-write, answers ping on eth0 with a static address, and stays up', async () => {
    const lab = await labFor(xen);
    const kernel = await labGuestKernel(xen);
    const { busyboxInitrd } = await buildGuestFixtures({ xen });
    const name = `txlfx-initrd-${tag}`;
    const img = `/tmp/${name}.img`;
    const log = `/var/log/xen/console/guest-${name}.log`;
    const mac = `00:16:3e:7f:00:${tag.slice(-2)}`;
    const address = `192.168.210.${50 + Number(tag.slice(-2))}`;
    const cfg = writeLinuxCfg(name, kernel, busyboxInitrd, `console=hvc0 txl.ip=${address}/24 txl.rw txl.action=stay`, [
      `disk = [ "format=raw,vdev=xvda,access=rw,script=block-lab,target=${img}" ]`,
      `vif = [ "mac=${mac},bridge=xenbr0" ]`,
    ]);
    try {
      await sh(
        lab,
        `xl destroy ${name} 2>/dev/null; rm -rf ${log} ${img} /tmp/${name}.d && mkdir /tmp/${name}.d && ` +
          `echo 'made in dom0 for ${name}' > /tmp/${name}.d/txl-fixture && mke2fs -q -t ext4 -d /tmp/${name}.d ${img} 32M`,
      );
      const created = await lab.exec(['xl', 'create', cfg], { timeoutMs: 300_000 });
      expect(created.status, `xl create: ${created.stdout}${created.stderr}`).toBe(0);
      const text = await waitForFile(lab, log, (t) => t.includes('txl-initrd: staying up'), 240);
      writeFileSync(join(fixturesDir(), 'lab-tests', `${name}.console.log`), text);
      expect(text).toMatch(/txl-initrd: hello kernel=6\.\d+\S* cmdline=console=hvc0 txl\.ip=/);
      expect(text).toMatch(/txl-initrd: modules loaded:.* xen-blkfront.* xen-netfront.* ext4/);
      expect(text).toContain('txl-initrd: disk /dev/xvda mounted ext4 rw: ');
      expect(text).toContain(`txl-initrd: disk file txl-fixture=made in dom0 for ${name}`);
      expect(text).toContain('txl-initrd: disk write ok');
      expect(text).toContain(`txl-initrd: eth0 up mac=${mac} addr=${address}/24`);
      expect(text).toContain('txl-initrd: staying up');
      // The guest answers on the lab bridge.
      const ping = await lab.exec(['busybox', 'ping', '-c', '3', '-W', '5', address], { timeoutMs: 60_000 });
      expect(ping.status, ping.stdout + ping.stderr).toBe(0);
    } finally {
      await lab.exec(['sh', '-c', `xl destroy ${name} 2>/dev/null; true`], { timeoutMs: 120_000 });
    }
    // What the guest wrote is on the disk (read back in dom0 without mounting it).
    const written = await sh(lab, `sleep 1; debugfs -R 'cat /txl-initrd-was-here' ${img} 2>/dev/null; rm -rf ${img} /tmp/${name}.d`);
    expect(written).toMatch(/^written by txl-initrd on 6\./);
    expect(await xlState(lab, name)).toBeUndefined();
  });

  it('without devices says so and powers off (on_poweroff=destroy removes the domain)', async () => {
    const lab = await labFor(xen);
    const kernel = await labGuestKernel(xen);
    const { busyboxInitrd } = await buildGuestFixtures({ xen });
    const name = `txlfx-initrd-off-${tag}`;
    const log = `/var/log/xen/console/guest-${name}.log`;
    const cfg = writeLinuxCfg(name, kernel, busyboxInitrd, 'console=hvc0', []);
    try {
      await sh(lab, `xl destroy ${name} 2>/dev/null; rm -f ${log}; true`);
      const created = await lab.exec(['xl', 'create', cfg], { timeoutMs: 300_000 });
      expect(created.status, `xl create: ${created.stdout}${created.stderr}`).toBe(0);
      const text = await waitForFile(lab, log, (t) => t.includes('txl-initrd: powering off'), 240);
      writeFileSync(join(fixturesDir(), 'lab-tests', `${name}.console.log`), text);
      expect(text).toContain('txl-initrd: no disk');
      expect(text).toContain('txl-initrd: no network');
      expect(text).toContain('txl-initrd: powering off');
      const deadline = Date.now() + 60_000;
      while ((await xlState(lab, name)) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
      expect(await xlState(lab, name)).toBeUndefined();
    } finally {
      await lab.exec(['sh', '-c', `xl destroy ${name} 2>/dev/null; true`], { timeoutMs: 120_000 });
    }
  });
});
