// Rollback of `txl create` on real Xen (4.17 and 4.20 under QEMU): for a cfg with a file-backed disk (a loop
// device in dom0) and a vif on xenbr0, TXL_INJECT_FAILURE (toolstack/operations/inject.ts) fails the create at
// the start of every step of its plan and at the end of the last one; after each, txl has exited non-zero
// naming the step, and dom0 shows no domain, no xenstore nodes (/local/domain, /vm, /libxl, backends), no loop
// device on the image, no port on xenbr0, no vif interface and no saved config left behind. The steps come from
// `txl create --dry-run` (and must be every MicroOp kind: a kind added to the plan is covered without editing
// this file). All runs are one dom0 shell loop; each txl create costs 5-24 s in the emulated dom0.
//
// Seen failing: its first run found a zombie domain after a failure at unpause:start (the rollback sent
// XS_RELEASE, fixed in execute.ts); with the rollback's device teardown skipped on purpose (not committed) it
// reported the vbd backend and loop device left from addVif:start on.
// Passed on 2026-11-23, one version at a time: 4.17 loop 138 s (load ~2) and 264 s (load ~5), 4.20 loop 181 s
// (load ~2) and 295 s (load ~5-6), plus the lab's boot when this file is the first to use it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../lab/index.js';
import { buildMinikernel } from '../../lab/fixtures/index.js';
import { MICRO_OP_KINDS } from '../../toolstack/operations/index.js';
import { labFor } from './lab-session.js';

const work = join(repoRoot(), '.cache', 'rollback-lab');

/**
 * A dom0 shell function printing the state that must be the same before the loop and after every failed
 * create (one `key: value` a line), with few processes (each costs ~0.2-1 s in the emulated dom0): xl list,
 * one xenstore-ls of the whole tree, losetup -j, ip link and a glob.
 */
const STATE_FN = `
  state() {
    echo "domains: $(xl list | awk 'NR > 1 { printf "%s ", $1 }')"
    xenstore-ls -f / 2>/dev/null | awk -F' = ' '
      { n = split($1, f, "/") }
      f[2] == "local" && f[3] == "domain" && n == 4 { d = d f[4] " " }
      f[2] == "vm" && n == 3 { vm = vm f[3] " " }
      f[2] == "libxl" && n == 3 { lx = lx f[3] " " }
      f[2] == "local" && f[4] == "0" && f[5] == "backend" && n == 7 { be[f[6]] = be[f[6]] f[7] " " }
      END {
        print "xs-domains: " d; print "vm: " vm; print "libxl: " lx
        print "backend-vbd: " be["vbd"]; print "backend-vif: " be["vif"]; print "backend-console: " be["console"]
      }'
    echo "loop: $(losetup -j "$img")"
    ip -o link show | awk '/ master xenbr0 / { p = p $2 " " } $2 ~ /^vif/ { v = v $2 " " } END { print "bridge-ports: " p; print "vif-links: " v }'
    printf 'userdata:'; for f in /var/lib/xen/*"$uuid"*; do [ -e "$f" ] && printf ' %s' "$f"; done; echo
  }
  # Paths a leak may leave: a guest's directory, /vm and /libxl entries, backend directories.
  paths() {
    xenstore-ls -f / 2>/dev/null | awk -F' = ' '{ n = split($1, f, "/") } (f[3] == "domain" && n == 4) || ((f[2] == "vm" || f[2] == "libxl") && n == 3) || (f[5] == "backend" && n == 7) { print $1 }'
  }
`;

/** Parses `key: value` lines into a record (values trimmed). */
function fields(block: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of block.split('\n')) {
    const m = /^([a-z-]+): ?(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim();
  }
  return out;
}

for (const xen of ['4.17', '4.20'] as const) {
  describe(`txl create rollback on Xen ${xen}`, () => {
    it('a failure injected at every step leaves no domain, xenstore node, loop device, vif or saved config', async () => {
      const lab = await labFor(xen);
      const kernel = await buildMinikernel();
      const tag = xen.replace('.', '');
      const name = `txl-rb-${tag}`;
      const uuid = `7a1b0c00-0000-4000-8000-${tag.padStart(12, '0')}`;
      const img = `/tmp/${name}.img`;
      mkdirSync(work, { recursive: true });
      const cfg = join(work, `${name}.cfg`);
      writeFileSync(cfg, [
        `name = "${name}"`, `uuid = "${uuid}"`, `kernel = "${kernel}"`, 'extra = "console=hvc0 stay"', 'memory = 32', 'vcpus = 1',
        `disk = [ "${img},raw,xvda,rw" ]`, 'vif = [ "bridge=xenbr0" ]', '',
      ].join('\n'));
      // Steps from the dry run's plan ("  N  kind  what"): the start of each, and the end of the last.
      const script = `
        img=${img}; uuid=${uuid}
        truncate -s 16M "$img"
        t0=$(date +%s)
        steps=$(txl create -n ${cfg} | awk '/^plan$/ { p = 1; next } p && $1 ~ /^[0-9]+$/ { print $2 }')
        echo "steps: $(echo $steps)"
        echo "seconds: $(( $(date +%s) - t0 ))"
        [ -n "$steps" ] || exit 3
        echo "== baseline"
        ${STATE_FN}
        base=$(state); echo "$base"
        basepaths=$(paths)
        last=$(echo $steps | awk '{ print $NF }')
        for at in $(for s in $steps; do echo "$s:start"; done) "$last:done"; do
          t0=$(date +%s)
          TXL_INJECT_FAILURE=$at txl create ${cfg} >/tmp/${name}.out 2>/tmp/${name}.err
          rc=$?
          echo "== $at"
          echo "status: $rc"
          echo "seconds: $(( $(date +%s) - t0 ))"
          echo "stderr: $(tr '\\n' ' ' </tmp/${name}.err)"
          now=$(state); echo "$now"
          # A leak would make every later step fail for the same reason: clean up so each step is judged alone.
          if [ "$now" != "$base" ]; then
            xl list ${name} >/dev/null 2>&1 && xl destroy ${name}
            for p in $(paths | grep -vxF "$basepaths"); do xenstore-rm "$p"; done
            for l in $(losetup -j "$img" | cut -d: -f1); do losetup -d "$l"; done
            rm -f /var/lib/xen/userdata-d.*."$uuid".*
          fi
        done
        rm -f "$img" /tmp/${name}.out /tmp/${name}.err
      `;
      const started = Date.now();
      const r = await lab.exec(['sh', '-c', script], { timeoutMs: 15 * 60_000 });
      const seconds = (Date.now() - started) / 1000;
      expect(r.status, `dom0 loop exited ${r.status}:\n${r.stdout}\n${r.stderr}`).toBe(0);
      const [head = '', ...blocks] = r.stdout.split('\n== ');
      const steps = fields(head)['steps']?.split(' ') ?? [];
      // This cfg's plan has a step of every kind there is (disk, vif, saved config, unpause), in plan order.
      expect(steps).toEqual([...MICRO_OP_KINDS]);
      const [baselineBlock = '', ...runs] = blocks;
      const baseline = fields(baselineBlock);
      // The lab is shared by the run's files: each must have destroyed its guests.
      expect(baseline, 'dom0 before the loop').toMatchObject({
        domains: 'Domain-0', 'xs-domains': '0', 'backend-vbd': '', 'backend-vif': '', 'backend-console': '',
        loop: '', 'bridge-ports': '', 'vif-links': '', userdata: '',
      });
      const expected = [...steps.map((s) => `${s}:start`), `${steps.at(-1)!}:done`];
      expect(runs.map((b) => b.split('\n')[0])).toEqual(expected);
      const times: string[] = [];
      for (const block of runs) {
        const at = block.split('\n')[0]!;
        const [step, phase] = at.split(':');
        const got = fields(block.slice(at.length));
        times.push(`${at} ${got['seconds']} s`);
        // Soft: one run reports every step that left something, not only the first.
        expect.soft(got['status'], `${at}: exit status (stderr: ${got['stderr']})`).not.toBe('0');
        expect.soft(got['stderr'], `${at}: stderr`).toContain(`injected failure at ${step} (${phase})`);
        // After the domain exists the executor rolls back and says so; a partial rollback is TXL_CREATE_ROLLBACK_FAILED.
        expect.soft(got['stderr'], `${at}: stderr`).not.toContain('the rollback was incomplete');
        if (steps.indexOf(step!) > steps.indexOf('createDomain') || at === 'createDomain:done') {
          expect.soft(got['stderr'], `${at}: stderr`).toMatch(new RegExp(`failed at ${step}: injected failure at ${step} \\(${phase}\\) \\(the half-built domain \\d+ was destroyed`));
        }
        const { status: _s, seconds: _t, stderr: _e, ...state } = got;
        expect.soft(state, `${at}: what is left in dom0`).toEqual(baseline);
      }
      process.stderr.write(`rollback lab ${xen}: dry run ${fields(head)['seconds']} s, then ${runs.length} failed creates and checks; ${seconds.toFixed(0)} s in all (${times.join(', ')})\n`);
    });
  });
}
