// Shared by the builder's lab files (builder.test.ts, builder-2g.test.ts): the guest files in the checkout,
// one run of bench/build-dom0 (txl's planCreate + executeCreate over privcmd) in dom0, what is left after.
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ensureLabImage, repoRoot, type LabMachine, type XenVersion } from '../../lab/index.js';
import { INIT_MARKER, writeBusyboxInitrd } from '../../domain-builder/testing/initrd.js';

const repo = repoRoot();
/** Where the builder's lab files keep guest files: under the checkout, which dom0 sees at the same path. */
export const BUILDER_LAB_DIR = join(repo, '.cache', 'builder', 'lab');

/** What bench/build-dom0 prints (one JSON line). */
export interface BuildRun {
  ok: boolean;
  domid?: number;
  marker?: boolean;
  shutdownCode?: number | string;
  console?: string;
  buildSteps?: Record<string, number>;
  ops?: Record<string, number>;
  error?: { code?: string; message?: string; details?: unknown };
}

/** Debian's kernel of the lab's suite (the dom0 kernel) and the busybox test initrd, placed in the checkout. */
export async function debianGuestFiles(xen: XenVersion): Promise<{ kernel: string; initrd: string }> {
  mkdirSync(BUILDER_LAB_DIR, { recursive: true });
  const image = await ensureLabImage(xen);
  const kernel = join(BUILDER_LAB_DIR, `vmlinuz-${xen}`);
  if (!existsSync(kernel) || statSync(kernel).size !== statSync(image.kernel).size) copyFileSync(image.kernel, kernel);
  const initrd = writeBusyboxInitrd(join(BUILDER_LAB_DIR, 'busybox-initrd.gz'));
  return { kernel, initrd };
}

/** Runs `node dist/bench/build-dom0.js ARGS` in dom0 and returns its result line. */
export async function buildIn(lab: LabMachine, args: string[], timeoutMs = 18 * 60_000): Promise<BuildRun> {
  const r = await lab.exec(['node', join(repo, 'dist', 'bench', 'build-dom0.js'), ...args], { timeoutMs });
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  if (!line) throw new Error(`build-dom0 printed no result (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line) as BuildRun;
}

/** Guests left (xl list rows besides Domain-0) and /local/domain entries besides 0 (C tools: quick under TCG). */
export async function leftovers(lab: LabMachine): Promise<{ domains: string[]; xenstore: string[] }> {
  const r = await lab.exec(['sh', '-c', 'xl list && echo --- && xenstore-list /local/domain'], { timeoutMs: 600_000 });
  if (r.status !== 0) throw new Error(`xl list / xenstore-list failed (status ${r.status}): ${r.stderr}`);
  const [list = '', ls = ''] = r.stdout.split('---\n');
  const domains = list.split('\n').slice(1).map((l) => l.trim()).filter((l) => l && !l.startsWith('Domain-0'));
  return { domains, xenstore: ls.split('\n').map((s) => s.trim()).filter((s) => s && s !== '0') };
}

/** `key=value` from the test initrd's marker line (writeBusyboxInitrd). */
export function initFact(consoleText: string, key: string): string {
  const m = new RegExp(`${INIT_MARKER}.*\\b${key}=(\\S+)`).exec(consoleText);
  if (!m) throw new Error(`no ${key}= after ${INIT_MARKER} in the console:\n${consoleText.slice(-2000)}`);
  return m[1]!;
}
