// `npm run demo` (lab/demo.sh): boots the lab and shows a PV guest booting, with its console output.
// The guest is Debian's kernel with the fixtures' busybox initrd, created by `txl create -c`: txl's own
// domain builder, its console attached from the first line. Usage: node dist/lab/demo.js [4.17|4.20]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildGuestFixtures } from './fixtures/index.js';
import { bootLab, labGuestKernel, parseXenVersion, repoRoot } from './index.js';

const xen = parseXenVersion(process.argv[2] ?? '4.17');
const say = (text: string): void => void process.stdout.write(`\x1b[1m== ${text}\x1b[0m\n`);
const started = Date.now();
const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;

say(`Preparing the Xen ${xen} lab and the guest (built once, then cached)`);
const log = (line: string): void => void process.stdout.write(`   ${line}\n`);
const kernel = await labGuestKernel(xen, { onLog: log });
const { busyboxInitrd } = await buildGuestFixtures({ xen, onLog: log });
const dir = join(repoRoot(), '.cache', 'demo');
mkdirSync(dir, { recursive: true });
const cfg = join(dir, 'demo-guest.cfg');
writeFileSync(
  cfg,
  [
    '# A PV guest: Debian\'s kernel and a tiny busybox initrd (lab/fixtures).',
    'name = "demo"',
    `kernel = "${kernel}"`,
    `ramdisk = "${busyboxInitrd}"`,
    'extra = "console=hvc0 quiet txl.action=poweroff"',
    'memory = 128',
    'vcpus = 1',
    'on_poweroff = "destroy"',
    '',
  ].join('\n'),
);

say(`Booting Xen ${xen} under QEMU (software emulation)`);
const lab = await bootLab({ xen, onLog: log });
try {
  say(`dom0 is up after ${elapsed()}: txl info`);
  const info = await lab.exec(['sh', '-c', "txl info | grep -E '^(xen_version|total_memory|free_memory|nr_cpus)'"]);
  process.stdout.write(info.stdout);
  say(`The guest's configuration (${cfg})`);
  process.stdout.write(`${cfg.length ? (await lab.exec(['cat', cfg])).stdout : ''}`);
  say('txl create -c (txl\'s own domain builder; the console is attached before the guest runs)');
  const created = await lab.exec(['txl', 'create', '-c', cfg], { timeoutMs: 600_000, onStdout: (c) => process.stdout.write(c), onStderr: (c) => process.stdout.write(c) });
  if (created.status !== 0) throw new Error(`txl create -c failed with status ${created.status}`);
  say(`The guest powered off and is gone (${elapsed()} in all):`);
  process.stdout.write((await lab.exec(['txl', 'list'])).stdout);
} finally {
  await lab.exec(['sh', '-c', 'txl destroy demo 2>/dev/null || xl destroy demo 2>/dev/null; true']).catch(() => undefined);
  await lab.shutdown();
}
say('QEMU stopped. Try: bin/txl lab exec -- xl list   or   bin/txl lab shell');
