// Parsing of `txl lab exec`: the command after `--` reaches dom0 word for word.
import { describe, expect, it } from 'vitest';
import yargs, { type Argv } from 'yargs';
import type { GlobalArgs } from '../command.js';
import { labExecCommand } from './lab.js';

function parse(argv: string[]): Record<string, unknown> {
  const y = yargs(argv) as unknown as Argv<GlobalArgs>;
  return labExecCommand.builder!(y).parseSync() as Record<string, unknown>;
}

describe('txl lab exec parsing', () => {
  it('keeps numeric-looking words of the command as strings (4.20 stays 4.20)', () => {
    const args = parse(['--xen', '4.20', '--timeout', '60', '--', 'sh', 'run.sh', '4.20', '007', '1e3']);
    expect(args['--']).toEqual(['sh', 'run.sh', '4.20', '007', '1e3']);
    expect(args.xen).toBe('4.20');
    expect(args.timeout).toBe(60);
  });

  it('takes --memory as a number of MiB for QEMU', () => {
    const args = parse(['--memory', '4096', '--', 'xl', 'info']);
    expect(args.memory).toBe(4096);
    expect(args['--']).toEqual(['xl', 'info']);
  });
});
