// The --version fast path (entry.ts, measured by bench/cli-startup.ts) prints what the yargs path prints.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../toolstack/cli/command.js';
import { main } from '../toolstack/cli/main.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('txl --version', () => {
  it('answers from the built CLI without yargs, the same as through yargs', async () => {
    const version = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;
    let out = '';
    const io: CliIo = { out: (t) => void (out += t), err: () => {}, stdin: process.stdin, stdoutIsTTY: false };
    expect(await main(['--version'], io)).toBe(0);
    expect(out).toBe(`${version}\n`);
    const fast = spawnSync(process.execPath, [join(repo, 'bin', 'txl'), '--version'], { encoding: 'utf8' });
    expect(fast.stderr).toBe('');
    expect(fast.stdout).toBe(`${version}\n`);
    // The fast path loads no yargs: a resolve hook that refuses 'yargs' lets --version through, not --help.
    const dir = mkdtempSync(join(tmpdir(), 'txl-startup-'));
    try {
      writeFileSync(join(dir, 'hooks.mjs'), "export async function resolve(s, c, next) { if (s === 'yargs') throw new Error('yargs was loaded'); return next(s, c); }\n");
      writeFileSync(join(dir, 'register.mjs'), "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n");
      // TXL_NO_BUNDLE: the unbundled dist/, where loading yargs is a module resolution the hook sees
      // (dist/bundle inlines yargs; toolstack/cli/bundle.test.ts checks it answers as dist/ does).
      const guarded = (arg: string) => spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), join(repo, 'bin', 'txl'), arg], {
        encoding: 'utf8', env: { ...process.env, TXL_NO_BUNDLE: '1' },
      });
      const versionRun = guarded('--version');
      expect(versionRun.stdout).toBe(`${version}\n`);
      expect(versionRun.status).toBe(0);
      const helpRun = guarded('--help');
      expect(helpRun.status).not.toBe(0);
      expect(helpRun.stderr).toContain('yargs was loaded');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
