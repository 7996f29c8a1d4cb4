// The CLI's global behaviour: help, version, usage errors with suggestions, exit statuses.
import { describe, expect, it } from 'vitest';
import { buildParser, commandsFor, main } from '../../toolstack/cli/main.js';
import { COMMANDS } from '../../toolstack/cli/commands/index.js';
import type { AnyTxlCommand, CliIo } from '../../toolstack/cli/command.js';

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

describe('txl CLI: only the named command is registered', () => {
  const names = (argv: string[]): string[] => commandsFor(argv).map((c) => (typeof c.command === 'string' ? c.command : c.command[0]!).split(' ')[0]!);

  it('picks the command the first non-option word names, else all of them', () => {
    expect(names(['create', '-c', 'x.cfg'])).toEqual(['create']);
    expect(names(['--json', '-v', 'list'])).toEqual(['list']);
    expect(names(['xenstore', 'ls', '/'])).toEqual(['xenstore']);
    expect(commandsFor([])).toBe(COMMANDS);
    expect(commandsFor(['--help'])).toBe(COMMANDS);
    expect(commandsFor(['creat', 'x.cfg'])).toBe(COMMANDS);
    expect(commandsFor(['completion'])).toBe(COMMANDS);
  });

  /** What txl prints (help, or the usage error of yargs or of the command) for `argv`, with the given commands registered. */
  async function outcome(argv: string[], commands: readonly AnyTxlCommand[]): Promise<string> {
    let text = '';
    const capture: CliIo = { out: (t) => void (text += `out: ${t}`), err: (t) => void (text += `err: ${t}`), stdin: process.stdin, stdoutIsTTY: false };
    const parser = buildParser(argv, capture, (status) => void (text += `status ${status}`), commands);
    try {
      await parser.parseAsync(argv, {}, (err, _parsed, output) => {
        text += `${err ? `error: ${err.message}` : ''}${output ?? ''}`;
      });
    } catch (error) {
      text += `thrown: ${(error as Error).message}`;
    }
    return text;
  }

  it('prints the same help and usage errors as with every command registered', async () => {
    const cases: string[][] = [];
    for (const command of COMMANDS) {
      const name = (typeof command.command === 'string' ? command.command : command.command[0]!).split(' ')[0]!;
      cases.push([name, '--help'], [name, '--no-such-option']);
      if ('subcommands' in command) {
        for (const sub of command.subcommands) {
          const subName = (typeof sub.command === 'string' ? sub.command : sub.command[0]!).split(' ')[0]!;
          cases.push([name, subName, '--help'], [name, subName, '--no-such-option']);
        }
      }
    }
    expect(cases.length).toBeGreaterThan(40);
    for (const argv of cases) {
      const only = await outcome(argv, commandsFor(argv));
      expect(only, argv.join(' ')).not.toBe('');
      expect(only, argv.join(' ')).toBe(await outcome(argv, COMMANDS));
      expect(commandsFor(argv)).toHaveLength(1);
    }
  });
});
