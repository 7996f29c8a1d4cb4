// Guest lifecycle on real Xen (4.17 and 4.20 under QEMU) with txl alone, checked with xl, xenstore-read
// and the host monitor's log (toolstack/lifecycle/README.md). No console is attached anywhere.
// - `txl create` without -c hands each guest to the host monitor, which carries out on_crash="destroy"
//   (a guest that crashes itself), lets go of a guest destroyed by `xl destroy` (its record removed)
//   and exits once idle, and carries out on_reboot="restart" for a guest that reboots itself: it
//   comes back under its name with a new domid.
// - `txl reboot -F` (SCHEDOP_remote_shutdown, reason reboot) restarts a guest the same way; `txl sysrq`
//   writes control/sysrq of the re-created guest; `txl shutdown -a -w -F` shuts every guest down,
//   reports each shutdown, and the monitor destroys them (on_poweroff="destroy").
// - `txl destroy` of a paused guest removes it and its xenstore nodes; `rename` (name and /vm name),
//   `mem-max` (static-max), `mem-set` (target), `vcpu-set` (cpu/N/availability both ways) and
//   `shutdown -w -F` on a running guest.
// The minikernel fixture (lab/fixtures) crashes, reboots (again at every boot) or stays up as its
// command line says; it has no PV shutdown driver, hence -F, and never reads control/sysrq.
// Measured (2-core host shared with one or two other lab QEMUs, load 3-6): 4.17 182-259 s (4 passes),
// 4.20 194-256 s (3 passes) of tests after a 43-76 s boot. Every txl command is a Node start in the
// emulated dom0: ~9 s each at that load, ~4 s on a quieter host (the last test: 40-46 s, not 88-100 s).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, type LabMachine } from '../../lab/index.js';
import { buildMinikernel } from '../../lab/fixtures/index.js';
import { labFor } from './lab-session.js';

const work = join(repoRoot(), '.cache', 'lifecycle-lab');
/** The monitor exits this long after it has nothing left to look after (default 30 s). */
const env = { TXL_MONITOR_IDLE_MS: '2000' };
const RECORDS = '/run/txl/monitor';
/**
 * pgrep/pkill -f pattern of the monitor process: `node .../dist/bundle/daemon-main.js` (or
 * dist/toolstack/lifecycle/daemon-main.js without a bundle). The brackets keep it from matching the
 * dom0 bash script that carries this pattern on its own command line.
 */
const MONITOR = "'[d]aemon-main\\.js'";

async function sh(lab: LabMachine, script: string, timeoutMs = 15 * 60_000): Promise<string> {
  // Output is collected as it comes, so a script killed on timeout still shows how far it got.
  let out = '';
  let err = '';
  try {
    const r = await lab.exec(['bash', '-c', script], { timeoutMs, env, onStdout: (c) => (out += c.toString()), onStderr: (c) => (err += c.toString()) });
    if (r.status !== 0) throw new Error(`exited ${r.status}`);
    return r.stdout;
  } catch (error) {
    throw new Error(`dom0 script failed (${(error as Error).message}):\n${script}\n--- stdout\n${out}\n--- stderr\n${err}`);
  }
}

/** A dom0 loop waiting (1 s steps, up to `seconds`) for `cond` (a shell condition); fails with `what` and `show`'s output. */
function waitFor(cond: string, what: string, seconds = 120, show = 'xl list; ls -l /run/txl/monitor; tail -20 /var/log/xen/txl-monitor.log'): string {
  return `for i in $(seq ${seconds}); do if ${cond}; then break; fi; if [ $i = ${seconds} ]; then echo "timed out: ${what}"; ${show}; exit 1; fi; sleep 1; done`;
}

function config(name: string, kernel: string, extra: string, lines: string[] = []): string {
  mkdirSync(work, { recursive: true });
  const path = join(work, `${name}.cfg`);
  writeFileSync(path, [`name = "${name}"`, `kernel = "${kernel}"`, 'memory = 32', `extra = "${extra}"`, ...lines, ''].join('\n'));
  return path;
}

const domid = (name: string): string => `$(xl domid ${name} 2>/dev/null)`;
/** `txl create --json CFG`, setting shell variable VAR to the new domid (the guest may be gone before `xl domid` could ask). */
const createAs = (cfg: string, variable: string): string =>
  `${variable}=$(txl create --json ${cfg} | sed -n 's/.*"domid": *\\([0-9]*\\).*/\\1/p' | head -1); echo "${variable}=$${variable}"; [ -n "$${variable}" ]`;
/** Destroys what a test left (names given), ending any restart loop, and waits for the monitor to let go. */
const cleanup = (names: string[]): string =>
  `for i in 1 2 3 4 5 6; do for n in ${names.join(' ')}; do xl destroy $n 2>/dev/null; done; sleep 2; `
  + `left=$(xl list | awk 'NR>1 && $1 != "Domain-0"' | grep -E '^(${names.join('|')})' || true); [ -z "$left" ] && break; done; true`;

for (const xen of ['4.17', '4.20'] as const) {
  describe(`txl lifecycle on Xen ${xen}`, () => {
    it('the host monitor: on_crash=destroy; let go when destroyed by xl, then exits; a guest reboot restarts it under its name', async () => {
      const lab = await labFor(xen);
      const kernel = await buildMinikernel();
      const v = xen.replace('.', '');
      const crash = `lc-crash-${v}`;
      const reboot = `lc-reboot-${v}`;
      const crashCfg = config(crash, kernel, 'crash', ['on_crash = "destroy"']);
      const rebootCfg = config(reboot, kernel, 'reboot', ['on_reboot = "restart"', 'on_poweroff = "destroy"']);
      const stay = `lc-let-go-${v}`;
      const stayCfg = config(stay, kernel, 'stay', ['on_poweroff = "destroy"']);
      try {
        // Crash with on_crash="destroy": the monitor (started by this create) destroys it.
        const out1 = await sh(lab, [
          createAs(crashCfg, 'first'),
          'echo "crash-domid=$first"',
          waitFor(`! xl list ${crash} >/dev/null 2>&1`, `${crash} destroyed`),
          waitFor(`[ ! -e ${RECORDS}/$first.json ]`, 'its record removed'),
          `echo "xs-domains=$(xenstore-list /local/domain | tr '\\n' ' ')"`,
          'grep -E "reason code 3|Action for shutdown reason code 3" /var/log/xen/txl-monitor.log',
        ].join('\n'));
        expect(out1).toContain('Action for shutdown reason code 3 is destroy');
        const crashDomid = /crash-domid=(\d+)/.exec(out1)?.[1];
        expect(crashDomid, out1).toBeDefined();
        const xsDomains = /xs-domains=(.*)/.exec(out1)?.[1]?.trim().split(/\s+/) ?? [];
        expect(xsDomains).not.toContain(crashDomid);

        // Destroyed by xl (someone else): the monitor lets go, removes the record, and exits when idle.
        const out2 = await sh(lab, [
          createAs(stayCfg, 'd'),
          `echo "stay-domid=$d"; ls ${RECORDS}`,
          // The create that starts the monitor does not wait for it: destroy only once it looks after the guest.
          waitFor(`grep -q "Waiting for domain ${stay} (domid $d) to die" /var/log/xen/txl-monitor.log`, 'the monitor looking after it'),
          `xl destroy ${stay}`,
          waitFor(`[ -z "$(ls ${RECORDS})" ]`, 'every record removed', 120),
          waitFor(`! pgrep -f ${MONITOR} >/dev/null`, 'the monitor exited', 120, 'ps aux | grep daemon-main; tail -20 /var/log/xen/txl-monitor.log'),
          'tail -4 /var/log/xen/txl-monitor.log',
        ].join('\n'));
        const stayDomid = /stay-domid=(\d+)/.exec(out2)?.[1];
        expect(out2).toContain(`\n${stayDomid}.json\n`);
        expect(out2).toContain(`Domain ${stayDomid} has been destroyed.`);
        expect(out2).toContain('monitor exited');

        // A guest that reboots itself with on_reboot="restart" comes back under its name with a new
        // domid, its record following it. The minikernel reboots again at once, forever (as it would
        // under xl): the test then stops the monitor (SIGTERM: it finishes the restart under way and
        // exits, leaving the record) and destroys the guest.
        const out3 = await sh(lab, [
          createAs(rebootCfg, 'first'),
          waitFor(`grep -q "Domain $first has shut down, reason code 1" /var/log/xen/txl-monitor.log`, 'the reboot logged'),
          // It reboots again at once: the domid and its name are read together, retried until both
          // come from one incarnation (a read after the next restart would find the domid gone).
          waitFor(`d=${domid(reboot)}; [ -n "$d" ] && [ "$d" != "$first" ] && n=$(xenstore-read /local/domain/$d/name 2>/dev/null)`, `${reboot} restarted under a new domid`),
          'second=$d; echo "second=$second"; echo "xs-name=$n"',
          // `xl domid` finds the new guest as soon as its name is written, before the re-create returns and is logged.
          waitFor(`grep -q "Domain ${reboot} re-created as domid $second" /var/log/xen/txl-monitor.log`, 'the re-create logged'),
          'grep -m1 "Action for shutdown reason code 1 is restart" /var/log/xen/txl-monitor.log',
          `grep -m1 "Domain ${reboot} re-created as domid $second" /var/log/xen/txl-monitor.log`,
          `kill -TERM $(pgrep -f ${MONITOR})`,
          waitFor(`! pgrep -f ${MONITOR} >/dev/null`, 'the monitor stopped', 120),
          waitFor(`! xl list ${reboot} >/dev/null 2>&1 || { xl destroy ${reboot} 2>/dev/null; false; }`, `${reboot} destroyed`, 60),
          'xl list',
        ].join('\n'));
        const first = /first=(\d+)/.exec(out3)?.[1];
        const second = /second=(\d+)/.exec(out3)?.[1];
        expect(first, out3).toBeDefined();
        expect(second, out3).toBeDefined();
        expect(second).not.toBe(first);
        expect(out3).toContain(`xs-name=${reboot}`);
        expect(out3).toContain('Action for shutdown reason code 1 is restart');
        expect(out3).toContain(`Domain ${reboot} re-created as domid ${second}`);
      } finally {
        await sh(lab, `pkill -TERM -f ${MONITOR}; ${cleanup([crash, stay, reboot])}`);
      }
    });

    it('reboot -F: restarted under its name with a new domid; sysrq; shutdown -a -w -F', async () => {
      const lab = await labFor(xen);
      const kernel = await buildMinikernel();
      const v = xen.replace('.', '');
      const rb = `lc-rb-${v}`;
      const other = `lc-other-${v}`;
      const rbCfg = config(rb, kernel, 'stay', ['on_reboot = "restart"', 'on_poweroff = "destroy"']);
      const otherCfg = config(other, kernel, 'stay', ['on_poweroff = "destroy"']);
      try {
        const out = await sh(lab, [
          // The minikernel has no PV shutdown driver: reboot -F asks Xen (SCHEDOP_remote_shutdown,
          // reason reboot) and the monitor carries out on_reboot="restart". The new guest stays up.
          createAs(rbCfg, 'first'),
          `txl reboot -F ${rb} 2>&1`,
          waitFor(`d=${domid(rb)}; [ -n "$d" ] && [ "$d" != "$first" ]`, `${rb} restarted under a new domid`),
          `second=${domid(rb)}; echo "second=$second"; echo "xs-name=$(xenstore-read /local/domain/$second/name)"`,
          waitFor(`grep -q "Domain ${rb} re-created as domid $second" /var/log/xen/txl-monitor.log`, 'the re-create logged'),
          `grep -E "Domain $first has shut down, reason code|Domain ${rb} re-created as domid $second" /var/log/xen/txl-monitor.log`,
          `xl list ${rb} | awk 'NR==2 {print "second-state=" $5}'`,
          // sysrq: written to control/sysrq of the re-created guest, read back before anything could
          // clear it (the minikernel never reads it).
          `txl sysrq ${rb} s`,
          'echo "sysrq=$(xenstore-read /local/domain/$second/control/sysrq)"',
          // shutdown -a -w -F: every guest (the restarted one and a second) shut down by Xen, -w
          // returns once each has shut down; the monitor then destroys both (on_poweroff="destroy").
          createAs(otherCfg, 'third'),
          `echo "guests-before=$(xl list | awk 'NR>2 {print $2}' | tr '\\n' ' ')"`,
          'txl shutdown -a -w -F 2>&1',
          waitFor(`! xl list ${rb} >/dev/null 2>&1 && ! xl list ${other} >/dev/null 2>&1`, 'both destroyed by the monitor'),
          `grep -E "Domain ($second|$third) has shut down, reason code 0" /var/log/xen/txl-monitor.log || true`,
        ].join('\n'));
        const first = /first=(\d+)/.exec(out)?.[1];
        const second = /second=(\d+)/.exec(out)?.[1];
        const third = /third=(\d+)/.exec(out)?.[1];
        expect(first, out).toBeDefined();
        expect(second, out).toBeDefined();
        expect(third, out).toBeDefined();
        expect(out).toContain(`Rebooting domain ${first}`);
        expect(out).toContain('PV control interface not available: asking Xen to reboot the domain (SCHEDOP_remote_shutdown).');
        expect(second).not.toBe(first);
        expect(out).toContain(`xs-name=${rb}`);
        expect(out).toContain(`Domain ${first} has shut down, reason code 1 0x1`);
        expect(out).toContain(`Domain ${rb} re-created as domid ${second}`);
        // Running or blocked in its poll: unpaused, not shut down.
        expect(out).toMatch(/second-state=(r-----|-b----)/);
        expect(out).toContain('sysrq=s');
        const before = /guests-before=(.*)/.exec(out)?.[1]?.trim().split(/\s+/) ?? [];
        expect(before).toContain(second);
        expect(before).toContain(third);
        for (const id of before) expect(out).toContain(`Shutting down domain ${id}\n`);
        expect(out).toContain(`Waiting for ${before.length} domains`);
        expect(out).toContain(`Domain ${second} has been shut down, reason code 0`);
        expect(out).toContain(`Domain ${third} has been shut down, reason code 0`);
        expect(out).toContain(`Domain ${second} has shut down, reason code 0 0x0`);
        expect(out).toContain(`Domain ${third} has shut down, reason code 0 0x0`);
      } finally {
        await sh(lab, cleanup([rb, other]));
      }
    });

    it('shutdown -w, destroy of a paused guest, rename, mem-set, mem-max, vcpu-set', async () => {
      const lab = await labFor(xen);
      const kernel = await buildMinikernel();
      const v = xen.replace('.', '');
      const stay = `lc-stay-${v}`;
      const renamed = `lc-renamed-${v}`;
      const paused = `lc-paused-${v}`;
      const stayCfg = config(stay, kernel, 'stay', ['on_poweroff = "destroy"', 'maxmem = 64', 'vcpus = 1', 'maxvcpus = 2']);
      const pausedCfg = config(paused, kernel, 'stay');
      try {
        const out = await sh(lab, [
          // A paused guest (as if half-built) is destroyed with its xenstore nodes.
          `txl create -p ${pausedCfg}`,
          `p=${domid(paused)}; xl list ${paused} | awk 'NR==2 {print "paused-state=" $5}'`,
          `txl destroy ${paused}`,
          `xl list ${paused} >/dev/null 2>&1 && echo "paused guest still there"`,
          `xenstore-read /local/domain/$p/name 2>/dev/null && echo "paused guest nodes still there"`,
          // rename, mem-set, mem-max, vcpu-set on a running guest.
          `txl create ${stayCfg}`,
          `d=${domid(stay)}; echo "domid=$d"`,
          `txl rename ${stay} ${renamed}`,
          `xl list ${renamed} >/dev/null && echo "xl-sees=${renamed}"`,
          `echo "xs-name=$(xenstore-read /local/domain/$d/name)"`,
          `echo "vm-name=$(xenstore-read $(xenstore-read /local/domain/$d/vm)/name)"`,
          `txl mem-max ${renamed} 48m`,
          `echo "static-max=$(xenstore-read /local/domain/$d/memory/static-max)"`,
          `txl mem-set ${renamed} 24m`,
          `echo "target=$(xenstore-read /local/domain/$d/memory/target)"`,
          `echo "cpu1-before=$(xenstore-read /local/domain/$d/cpu/1/availability)"`,
          `txl vcpu-set ${renamed} 2`,
          `echo "cpu1-after=$(xenstore-read /local/domain/$d/cpu/1/availability)"`,
          `txl vcpu-set ${renamed} 1`,
          `echo "cpu1-again=$(xenstore-read /local/domain/$d/cpu/1/availability)"`,
          // shutdown -w: the guest has no PV shutdown driver, so -F asks Xen; -w returns once it has
          // shut down, and the monitor carries out on_poweroff="destroy".
          `txl shutdown -w -F ${renamed} 2>&1`,
          waitFor(`! xl list ${renamed} >/dev/null 2>&1`, `${renamed} destroyed by the monitor`),
          // This guest's own shutdown and the action taken for it (earlier tests logged destroys too).
          `awk -v d="$d" '$0 ~ ("Domain " d " has shut down, reason code 0 ") { seen = 1; next } seen && /Action for shutdown reason code 0 is destroy/ { print "poweroff-destroyed=" d; exit }' /var/log/xen/txl-monitor.log`,
          `xenstore-read /local/domain/$d/name 2>/dev/null && echo "nodes still there"`,
          'true',
        ].join('\n'));
        expect(out).toContain('paused-state=--p---');
        expect(out).not.toContain('still there');
        expect(out).toContain(`xl-sees=${renamed}`);
        expect(out).toContain(`xs-name=${renamed}`);
        expect(out).toContain(`vm-name=${renamed}`);
        expect(out).toContain('static-max=49152');
        expect(out).toContain('target=24576');
        expect(out).toContain('cpu1-before=offline');
        expect(out).toContain('cpu1-after=online');
        expect(out).toContain('cpu1-again=offline');
        expect(out).toMatch(/has been shut down, reason code 0/);
        const stayDomid = /domid=(\d+)/.exec(out)?.[1];
        expect(stayDomid, out).toBeDefined();
        expect(out).toContain(`poweroff-destroyed=${stayDomid}`);
      } finally {
        await sh(lab, cleanup([stay, renamed, paused]));
      }
    });
  });
}
