// `txl create -c` on real Xen (4.17 and 4.20 under QEMU): txl's own builder boots the fixture minikernel,
// the console is attached before the domain is unpaused (so the greeting is not lost), and on_poweroff
// "destroy" is carried out by txl while attached, which ends the session. No libxenguest, no xl involved
// in the create; xl only confirms afterwards that nothing is left.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../lab/index.js';
import { buildMinikernel } from '../../lab/fixtures/index.js';
import { labFor } from './lab-session.js';

const work = join(repoRoot(), '.cache', 'create-lab');

for (const xen of ['4.17', '4.20'] as const) {
  describe(`txl create -c on Xen ${xen}`, () => {
    it('boots the minikernel with txl\'s builder, shows its console from the first line, and destroys it on poweroff', async () => {
      const lab = await labFor(xen);
      const kernel = await buildMinikernel();
      const name = `txl-create-c-${xen.replace('.', '')}`;
      mkdirSync(work, { recursive: true });
      const cfg = join(work, `${name}.cfg`);
      writeFileSync(cfg, [`name = "${name}"`, `kernel = "${kernel}"`, 'memory = 32', 'extra = "xenstore=name poweroff"', 'on_poweroff = "destroy"', ''].join('\n'));
      try {
        const r = await lab.exec(['txl', 'create', '-c', cfg], { timeoutMs: 10 * 60_000 });
        expect(r.status, `txl create -c: ${r.stdout}\n${r.stderr}`).toBe(0);
        expect(r.stdout).toContain('txl-minikernel: hello cmdline=xenstore=name poweroff');
        expect(r.stdout).toContain(`txl-minikernel: xenstore name=${name}`);
        expect(r.stdout).toContain('txl-minikernel: shutting down: poweroff');
        // on_poweroff="destroy": gone from Xen and from xenstore, with no help from xl.
        const list = await lab.exec(['xl', 'list'], { timeoutMs: 120_000 });
        expect(list.stdout).not.toContain(name);
        const domains = await lab.exec(['xenstore-list', '/local/domain'], { timeoutMs: 120_000 });
        expect(domains.stdout.split('\n').map((s) => s.trim()).filter((s) => s && s !== '0')).toEqual([]);
      } finally {
        await lab.exec(['sh', '-c', `xl destroy ${name} 2>/dev/null; true`], { timeoutMs: 120_000 });
      }
    });
  });
}
