// The privcmd backend on real Xen 4.17 and 4.20 (lab): the shared scenario suite inside dom0, and the
// domain commands against the reference xl on guests xl started: list/info/vcpu-list/domid/domname/
// uptime/dmesg output, and pause/unpause/destroy as `xl list` confirms.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLabImage, repoRoot } from '../../lab/index.js';
import { SCENARIOS } from '../../hypervisor/scenarios.js';
import { labFor } from './lab-session.js';

const repo = repoRoot();
type Lab = Awaited<ReturnType<typeof labFor>>;
type Run = { status: number; stdout: string; stderr: string };

/** Normalises what legitimately moves between two listings: the CPU time column. */
function normaliseList(text: string): string {
  return text.split('\n').map((line) => line.replace(/\s+\d+\.\d$/, ' T')).join('\n');
}

/** vcpu-list: the Time column and, for running vCPUs, the CPU they happen to be on and r/b. */
// Running, blocked and runnable (neither flag) change from one instant to the next: a CI run saw dom0's
// vcpu 0 runnable-but-preempted under xl and running under txl. Only the pause flag is stable.
function normaliseVcpus(text: string): string {
  return text.split('\n').map((line) => line
    .replace(/^(.{32} +\d+ +\d+) +(\d+|-) +([-r][-b][-p]) +\d+\.\d/, (_m, head: string, _cpu: string, st: string) => `${head} C ..${st[2]} T`))
    .join('\n');
}

for (const xen of ['4.17', '4.20'] as const) {
  describe(`hypervisor bindings on Xen ${xen}`, () => {
    let lab: Lab;
    const sh = async (script: string, stdin?: string): Promise<Run> =>
      lab.exec(['sh', '-c', script], { timeoutMs: 5 * 60_000, ...(stdin === undefined ? {} : { stdin }) });
    const ok = async (script: string): Promise<string> => {
      const r = await sh(script);
      if (r.status !== 0) throw new Error(`'${script}' exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    };
    let scenarioResults: { name: string; ok: boolean; error?: string }[] = [];
    const paused = `txl-hv-paused-${xen.replace('.', '')}`;
    const running = `txl-hv-run-${xen.replace('.', '')}`;

    beforeAll(async () => {
      lab = await labFor(xen);
      // Debian's kernel (the lab's dom0 kernel) is the guest: copied under the checkout, which dom0 sees.
      const kernel = join(repo, '.cache', 'hv-tests', xen, 'vmlinuz');
      mkdirSync(join(repo, '.cache', 'hv-tests', xen), { recursive: true });
      copyFileSync((await ensureLabImage(xen)).kernel, kernel);
      const selftest = await lab.exec(['node', join(repo, 'dist', 'hypervisor', 'selftest.js')], { timeoutMs: 10 * 60_000 });
      const json = selftest.stdout.slice(selftest.stdout.indexOf('{'));
      scenarioResults = (JSON.parse(json) as { results: typeof scenarioResults }).results;
      for (const [name, vcpus, mem] of [[paused, 2, 256], [running, 1, 200]] as const) {
        await sh(`cat > /tmp/${name}.cfg`, `name="${name}"\ntype="pv"\nkernel="${kernel}"\nmemory=${mem}\nvcpus=${vcpus}\nextra="console=hvc0"\non_crash="preserve"\n`);
      }
      // -e: no background monitor process (it would hold the exec's pipes); stdin closed.
      await ok(`xl create -p -e /tmp/${paused}.cfg </dev/null`);
      await ok(`xl create -e /tmp/${running}.cfg </dev/null`);
      // Without a root disk the kernel panics and Xen keeps it as crashed (on_crash=preserve): a state
      // that no longer moves. Wait for it so the listings below compare a settled guest.
      // Under TCG on a loaded host the panic can take minutes; a guest still booting changes state
      // between the xl and txl listings (seen in CI: '-b-' in one, '---' in the other), so wait up to 10 min.
      const settled = (await sh(`i=0; while [ $i -lt 300 ]; do xl list ${running} | tail -1 | grep -q ' --[-p]s' && exit 0; sleep 2; i=$((i+1)); done; exit 1`)).status;
      if (settled !== 0) process.stderr.write(`hypervisor lab test: ${running} did not crash within 600 s; comparing it while it runs\n`);
    });

    afterAll(async () => {
      if (!lab) return;
      await sh(`xl destroy ${paused} 2>/dev/null; xl destroy ${running} 2>/dev/null; true`);
    });

    for (const s of SCENARIOS) {
      it(`privcmd backend: ${s.name}`, () => {
        const r = scenarioResults.find((x) => x.name === s.name);
        expect(r, 'scenario result').toBeDefined();
        expect(r!.error ?? 'ok').toBe('ok');
      });
    }

    it('txl list prints what xl list prints (CPU time normalised)', async () => {
      const out = await ok('xl list > /tmp/xl.out; txl list > /tmp/txl.out; cat /tmp/xl.out; echo ---; cat /tmp/txl.out');
      const [xl, txl] = out.split('---\n');
      expect(xl).toContain(paused);
      expect(normaliseList(txl!)).toBe(normaliseList(xl!));
    });

    it('txl list -l prints what xl list -l prints for xl\'s guests and dom0 (libxl_retrieve_domain_configuration)', async () => {
      // xl list takes one domain at a time.
      const each = (tool: string): string => `for d in 0 ${paused} ${running}; do ${tool} list -l $d; done`;
      const out = await ok(`${each('xl')} > /tmp/xl-l.out; ${each('txl')} > /tmp/txl-l.out; cat /tmp/xl-l.out; echo ---; cat /tmp/txl-l.out`);
      const [xl, txl] = out.split('---\n');
      expect(xl).toContain(`"name": "${paused}"`);
      expect(txl).toBe(xl);
    });

    it('txl list NAME and ID, domid and domname agree with xl', async () => {
      const domid = (await ok(`xl domid ${paused}`)).trim();
      expect((await ok(`txl domid ${paused}`)).trim()).toBe(domid);
      expect(await ok(`txl domname ${domid}`)).toBe(await ok(`xl domname ${domid}`));
      expect(normaliseList(await ok(`txl list ${paused}`))).toBe(normaliseList(await ok(`xl list ${paused}`)));
      expect(normaliseList(await ok(`txl list ${domid}`))).toBe(normaliseList(await ok(`xl list ${domid}`)));
      const missing = await sh('txl list no-such-domain');
      expect(missing.status).toBe(1);
      expect(missing.stderr).toContain("domain 'no-such-domain' does not exist");
    });

    it('txl info prints what xl info prints', async () => {
      const out = await ok('xl info > /tmp/xl.out; txl info > /tmp/txl.out; cat /tmp/xl.out; echo ---; cat /tmp/txl.out');
      const [xl, txl] = out.split('---\n');
      expect(txl).toBe(xl);
      expect((await ok('txl info xen_minor')).trim()).toBe(xen.split('.')[1]);
    });

    it('txl vcpu-list prints what xl vcpu-list prints (time, CPU and r/b normalised)', async () => {
      // The two listings are taken seconds apart (node starts slowly under TCG) and a guest can change
      // state in between (one CI run saw a mismatch that two listings by hand did not show). A real
      // difference persists: compare up to three fresh pairs and report the last.
      let xl = '';
      let txl = '';
      for (let attempt = 0; attempt < 3; attempt++) {
        const out = await ok('xl vcpu-list > /tmp/xl.out; txl vcpu-list > /tmp/txl.out; cat /tmp/xl.out; echo ---; cat /tmp/txl.out');
        [xl = '', txl = ''] = out.split('---\n');
        if (normaliseVcpus(txl) === normaliseVcpus(xl)) break;
        process.stderr.write(`vcpu-list attempt ${attempt + 1} differs:\nxl:\n${xl}txl:\n${txl}`);
      }
      expect(normaliseVcpus(txl)).toBe(normaliseVcpus(xl));
    });

    it('txl uptime and txl dmesg agree with xl', async () => {
      const strip = (t: string): string => t.replace(/\d+:\d\d:\d\d/g, 'H:MM:SS').replace(/\d+ days?, /g, '');
      expect(strip(await ok('txl uptime'))).toBe(strip(await ok('xl uptime')));
      const [xl, txl] = (await ok('xl dmesg > /tmp/xl.out; txl dmesg > /tmp/txl.out; cat /tmp/xl.out; echo ---; cat /tmp/txl.out')).split('---\n');
      expect(txl!.length).toBeGreaterThan(1000);
      expect(txl!.startsWith(xl!.slice(0, 2000))).toBe(true);
    });

    it('txl pause, unpause and destroy take effect as xl list confirms', async () => {
      const state = async (): Promise<string> => (await ok(`xl list ${running}`)).split('\n')[1]!.trim().split(/\s+/)[4]!;
      await ok(`txl pause ${running}`);
      expect(await state()).toMatch(/^..p/);
      await ok(`txl unpause ${running}`);
      expect(await state()).toMatch(/^..-/);
      const domid = (await ok(`xl domid ${running}`)).trim();
      await ok(`txl destroy ${running}`);
      const gone = await sh(`xl list ${running}`);
      expect(gone.status).not.toBe(0);
      expect((await sh(`xenstore-exists /local/domain/${domid}`)).status).not.toBe(0);
      const refused = await sh('txl destroy 0');
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('not destroying domain 0');
    });
  });
}
