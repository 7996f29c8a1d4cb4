// bin/txl: runs dist/bundle/txl.js while it is newer than dist/, compiled with a V8 code cache kept
// per command, and dist/ otherwise. Checked on a small package with the real launcher copied in.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from './bundle.js';

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

describe('bin/txl', () => {
  const root = mkdtempSync(join(tmpdir(), 'txl-launcher-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const repo = packageRoot();
  for (const f of ['bin/txl', 'bin/package.json']) {
    mkdirSync(join(root, 'bin'), { recursive: true });
    copyFileSync(join(repo, f), join(root, f));
  }
  write(join(root, 'package.json'), '{"name":"txl","version":"9.9.9","type":"module"}\n');
  write(join(root, 'dist/toolstack/cli/entry.js'), "console.log('from dist', process.argv.slice(2).join(' '));\n");
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(root, 'dist/toolstack/cli/entry.js'), past, past);
  const bundle = join(root, 'dist/bundle/txl.js');
  const writeBundle = (greeting: string): void => {
    write(join(root, 'dist/bundle/package.json'), '{ "type": "commonjs" }\n');
    // What an esbuild CommonJS bundle relies on: require from its folder, __filename, module.
    write(bundle, [
      "const { join } = require('node:path');",
      `function greet(args) { return '${greeting} ' + args.join(' '); }`,
      "console.log(greet(process.argv.slice(2)), require('./helper.js').answer, __filename === join(__dirname, 'txl.js'), typeof module.exports);",
      "if (process.argv.includes('fail')) process.exitCode = 3;",
    ].join('\n'));
    write(join(root, 'dist/bundle/helper.js'), 'module.exports = { answer: 42 };\n');
  };
  const cache = join(root, 'cache');
  const run = (args: string[], env: Record<string, string> = {}): string =>
    execFileSync(process.execPath, [join(root, 'bin/txl'), ...args], { encoding: 'utf8', env: { ...process.env, TXL_CODE_CACHE_DIR: cache, ...env } });

  it('runs dist/ while there is no bundle, and the bundle once it is newer', () => {
    expect(run(['list'])).toBe('from dist list\n');
    writeBundle('hello');
    expect(run(['list', '-l'])).toBe('hello list -l 42 true object\n');
    expect(run(['list'], { TXL_NO_BUNDLE: '1' })).toBe('from dist list\n');
  });

  it('keeps one code cache per command, reuses it, and drops the caches of an older bundle', () => {
    rmSync(cache, { recursive: true, force: true });
    writeBundle('hello');
    expect(run(['create', 'x.cfg'])).toBe('hello create x.cfg 42 true object\n');
    expect(run(['--version'])).toBe('hello --version 42 true object\n');
    const files = readdirSync(cache).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/^bundle-[0-9a-f]{8}-create\.v8$/);
    expect(files[1]).toMatch(/^bundle-[0-9a-f]{8}-none\.v8$/);
    expect(statSync(join(cache, files[0]!)).size).toBeGreaterThan(0);
    // Used, not rewritten, by the next run of the same command.
    const before = statSync(join(cache, files[0]!)).mtimeMs;
    expect(run(['create', 'y.cfg'])).toBe('hello create y.cfg 42 true object\n');
    expect(statSync(join(cache, files[0]!)).mtimeMs).toBe(before);
    // A new bundle: new caches, the old ones removed when the first new one is written.
    writeBundle('hi there');
    expect(run(['create', 'x.cfg'])).toBe('hi there create x.cfg 42 true object\n');
    const after = readdirSync(cache);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatch(/-create\.v8$/);
    expect(after[0]).not.toBe(files[0]);
  });

  it('makes no cache from a failed run or a help text', () => {
    rmSync(cache, { recursive: true, force: true });
    writeBundle('hello');
    expect(() => run(['create', 'fail'])).toThrow();
    expect(run(['create', '--help'])).toBe('hello create --help 42 true object\n');
    expect(() => readdirSync(cache)).toThrow();
    run(['create', 'x.cfg']);
    expect(readdirSync(cache)).toHaveLength(1);
  });

  it('never runs a cache made for other code, even of the same size and mtime (cp -p, rsync -a)', () => {
    rmSync(cache, { recursive: true, force: true });
    writeBundle('hello');
    expect(run(['list'])).toBe('hello list 42 true object\n');
    const before = statSync(bundle);
    writeBundle('howdy');
    utimesSync(bundle, before.atime, before.mtime);
    expect(statSync(bundle).size).toBe(before.size);
    expect(run(['list'])).toBe('howdy list 42 true object\n');
  });

  it('uses no cache folder that others can write to', () => {
    rmSync(cache, { recursive: true, force: true });
    mkdirSync(cache, { mode: 0o777 });
    chmodSync(cache, 0o777);
    writeBundle('hello');
    expect(run(['list'])).toBe('hello list 42 true object\n');
    expect(readdirSync(cache)).toEqual([]);
    rmSync(cache, { recursive: true, force: true });
  });

  it('runs without a cache when it is turned off or cannot be written', () => {
    writeBundle('hello');
    rmSync(cache, { recursive: true, force: true });
    expect(run(['list'], { TXL_CODE_CACHE: '0' })).toBe('hello list 42 true object\n');
    expect(() => readdirSync(cache)).toThrow();
    write(join(root, 'not-a-dir'), 'file\n');
    chmodSync(join(root, 'not-a-dir'), 0o444);
    expect(run(['list'], { TXL_CODE_CACHE_DIR: join(root, 'not-a-dir', 'cache') })).toBe('hello list 42 true object\n');
  });
});
