// dist/bundle (bundle.ts): built from dist/, fresh only while dist/ is unchanged, native packages loaded
// on first use, and the bundled CLI answering exactly as the unbundled one does.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBundle, bundleDir, bundleIsFresh, packageRoot } from './bundle.js';

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** Sets a file's mtime `secondsAgo` in the past (so a rewrite is certainly newer). */
function age(path: string, secondsAgo: number): void {
  const t = new Date(Date.now() - secondsAgo * 1000);
  utimesSync(path, t, t);
}

describe('bundle of a small package', () => {
  const root = mkdtempSync(join(tmpdir(), 'txl-bundle-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  write(join(root, 'package.json'), '{"name":"txl","version":"9.9.9","type":"module"}\n');
  write(join(root, 'dist/toolstack/cli/entry.js'), [
    "import { greeting } from './greeting.js';",
    "import lzma from 'lzma-native';",
    'console.log(greeting);',
    "if (process.argv[2] === 'use-native') console.log(lzma.answer);",
    "console.log('loaded', globalThis.nativeLoaded === true);",
  ].join('\n'));
  write(join(root, 'dist/toolstack/cli/greeting.js'), "export const greeting = 'hello';\n");
  write(join(root, 'dist/toolstack/lifecycle/daemon-main.js'), "console.log('daemon');\n");
  write(join(root, 'node_modules/lzma-native/package.json'), '{"name":"lzma-native","main":"index.js"}\n');
  write(join(root, 'node_modules/lzma-native/index.js'), 'globalThis.nativeLoaded = true; module.exports = { answer: 42 };\n');
  for (const f of ['dist/toolstack/cli/entry.js', 'dist/toolstack/cli/greeting.js', 'dist/toolstack/lifecycle/daemon-main.js']) age(join(root, f), 60);
  const run = (...args: string[]): string => execFileSync(process.execPath, [join(bundleDir(root), 'txl.js'), ...args], { encoding: 'utf8' });

  it('builds txl.js and daemon-main.js that run on their own, loading lzma-native only when used', async () => {
    expect(bundleIsFresh(root)).toBe(false);
    await buildBundle(root);
    expect(run()).toBe('hello\nloaded false\n');
    expect(run('use-native')).toBe('hello\n42\nloaded true\n');
    expect(execFileSync(process.execPath, [join(bundleDir(root), 'daemon-main.js')], { encoding: 'utf8' })).toBe('daemon\n');
    expect(packageRoot(bundleDir(root))).toBe(root);
  });

  it('is fresh until any input changes, and fresh again once rebuilt', async () => {
    await buildBundle(root);
    expect(bundleIsFresh(root)).toBe(true);
    write(join(root, 'dist/toolstack/cli/greeting.js'), "export const greeting = 'hi';\n");
    expect(bundleIsFresh(root)).toBe(false);
    await buildBundle(root);
    expect(bundleIsFresh(root)).toBe(true);
    expect(run()).toBe('hi\nloaded false\n');
    // What bin/txl checks: a tsc rebuild rewrites entry.js, so the bundle is older than it.
    write(join(root, 'dist/toolstack/cli/entry.js'), "console.log('rebuilt');\n");
    expect(bundleIsFresh(root)).toBe(false);
  });

  it('says what to do when dist/ is not built', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'txl-bundle-empty-'));
    try {
      await expect(buildBundle(empty)).rejects.toThrow(/build dist\/ first/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('the bundled txl CLI', () => {
  // Inside the package (as dist/bundle is), so package.json, node_modules and templates/ are found.
  const repo = packageRoot();
  const out = join(repo, '.cache', `bundle-test-${process.pid}`, 'bundle');
  afterAll(() => rmSync(dirname(out), { recursive: true, force: true }));
  const cfg = join(dirname(out), 'guest.cfg');

  /** Runs the CLI from dist/ and from the bundle with the same arguments; both results. */
  const both = (args: string[], env: Record<string, string> = {}): [unknown, unknown] => {
    const once = (entry: string): unknown => {
      const r = spawnSync(process.execPath, [entry, ...args], { encoding: 'utf8', env: { ...process.env, ...env, COLUMNS: '100' } });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    return [once(join(repo, 'dist', 'toolstack', 'cli', 'entry.js')), once(join(out, 'txl.js'))];
  };

  it('answers --version, --help, a dry run, a usage error and the simulator as dist/ does', { timeout: 180_000 }, async () => {
    await buildBundle(repo, out);
    write(cfg, 'name = "b1"\nuuid = "5d6f1f6e-2b1a-4c3e-9a1b-0c2d3e4f5a6b"\nkernel = "/boot/vmlinuz"\nmemory = 64\nvcpus = 2\nvif = ["bridge=xenbr0,mac=00:16:3e:01:02:03"]\n');
    for (const args of [['--version'], ['--help'], ['create', '--help'], ['create', '--dry-run', cfg], ['creat', cfg], ['create', '--dryrun', cfg]]) {
      const [dist, bundled] = both(args);
      expect(bundled, args.join(' ')).toEqual(dist);
    }
    const [dist, bundled] = both(['list'], { TXL_BACKEND: 'simulator', TXL_SIM_STATE: join(dirname(out), 'sim.json') });
    expect(bundled).toEqual(dist);
    expect(readFileSync(join(out, 'txl.js'), 'utf8')).not.toMatch(/from\s*["']lzma-native["']/);
  });
});
