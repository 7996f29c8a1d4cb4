// Fetches (once, cached under <repo>/.cache/builder/) Debian's stock PV kernel and Xen's readnotes tool, for parity tests.
//
// Uses apt-get download + dpkg-deb -x (Debian's registry, the ordinary client); nothing is installed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** <repo>/.cache/builder */
export const CACHE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../.cache/builder');

function download(pkg: string, into: string): void {
  const tmp = `${into}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  execFileSync('apt-get', ['download', pkg], { cwd: tmp, stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
  const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb in ${tmp}`);
  execFileSync('dpkg-deb', ['-x', join(tmp, deb), join(tmp, 'root')]);
  rmSync(into, { recursive: true, force: true });
  renameSync(join(tmp, 'root'), into);
  rmSync(tmp, { recursive: true, force: true });
}

/** The package name linux-image-amd64 depends on (e.g. linux-image-6.1.0-56-amd64). */
function debianKernelPackage(): string {
  const out = execFileSync('apt-cache', ['depends', 'linux-image-amd64'], { encoding: 'utf8' });
  const m = /Depends: (linux-image-[0-9][^\s]*)/.exec(out);
  if (!m) throw new Error(`cannot find the kernel package linux-image-amd64 depends on:\n${out}`);
  return m[1]!;
}

/** Path of Debian's current stock kernel (bookworm's linux-image-amd64), a bzImage with an xz payload. */
export function debianKernel(): string {
  const root = join(CACHE_DIR, 'linux-image');
  if (!existsSync(join(root, 'boot'))) download(debianKernelPackage(), root);
  const name = readdirSync(join(root, 'boot')).find((f) => f.startsWith('vmlinuz-'));
  if (!name) throw new Error(`no vmlinuz in ${root}/boot`);
  return join(root, 'boot', name);
}

/** Path of Xen 4.17's readnotes (from xen-utils-4.17; runs with the libxen* libraries libxen-dev pulls in). */
export function xenReadnotes(): string {
  const root = join(CACHE_DIR, 'xen-utils-4.17');
  const bin = join(root, 'usr/lib/xen-4.17/bin/readnotes');
  if (!existsSync(bin)) download('xen-utils-4.17', root);
  return bin;
}
