// The CLI's global behaviour: help, version, usage errors with suggestions, exit statuses.
import { describe, expect, it } from 'vitest';
import { main } from '../../toolstack/cli/main.js';
import type { CliIo } from '../../toolstack/cli/command.js';

/** Runs txl in-process and records what it prints. */
export async function runTxl(argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), stdin: process.stdin, stdoutIsTTY: false };
  const status = await main(argv, io);
  return { status, out, err };
}

describe('txl CLI', () => {
  it('prints help and exits 0', async () => {
    const r = await runTxl(['--help']);
    expect(r.status).toBe(0);
    expect(r.out).toContain('Usage: txl <command>');
    expect(r.out).toContain('--json');
  });

  it('prints the package version', async () => {
    const r = await runTxl(['--version']);
    expect(r.status).toBe(0);
    expect(r.out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('rejects an unknown command with a suggestion and status 2', async () => {
    const r = await runTxl(['compleshun']);
    expect(r.status).toBe(2);
    expect(r.err).toContain('completion');
  });

  it('asks for a command when none is given', async () => {
    const r = await runTxl([]);
    expect(r.status).toBe(2);
    expect(r.err).toContain('txl --help');
  });
});
