// `txl lab exec` and `txl lab shell`: run commands in a real Xen 4.17/4.20 dom0 under QEMU (lab/).
import type { CliIo } from '../command.js';
import { defineCommand, defineGroup } from '../command.js';

function labIo(io: CliIo, verbose: number): { out(t: string | Buffer): void; err(t: string | Buffer): void; log(line: string): void } {
  return {
    out: (t) => io.out(typeof t === 'string' ? t : t.toString('utf8')),
    err: (t) => io.err(typeof t === 'string' ? t : t.toString('utf8')),
    // Boot milestones with -v; building an image takes long enough that its first line is always shown.
    log: (line) => {
      if (verbose > 0 || line.startsWith('lab: building')) io.err(`${line}\n`);
    },
  };
}

/** dom0 runs this checkout's bin/txl, which uses dist/bundle while it is fresh: refresh a stale one. */
async function refreshBundle(io: CliIo): Promise<void> {
  const { refreshBundleQuietly } = await import('../bundle.js');
  const warning = await refreshBundleQuietly();
  if (warning) io.err(`txl: warning: ${warning}\n`);
}

interface ExecArgs {
  xen: string;
  add?: string | string[];
  disk?: string | string[];
  timeout?: number;
  memory?: number;
  cmd?: string[];
  '--'?: string[];
}

/** `txl lab exec`: exported for the parsing test. */
export const labExecCommand = defineCommand<ExecArgs>({
  command: 'exec [cmd..]',
  describe: 'Boot the lab, run CMD in dom0, stream its output, exit with its status (QEMU is always stopped)',
  builder: (y) =>
    y
      .option('xen', { type: 'string', choices: ['4.17', '4.20'], default: '4.17', describe: 'Xen version (Debian bookworm: 4.17, trixie: 4.20)' })
      .option('add', { type: 'string', describe: 'HOST[:LAB] file or folder to show in dom0 (read-only; default LAB: the same path). Repeatable' })
      .option('disk', { type: 'string', describe: 'HOST[:ro] raw image attached as /dev/vdb, /dev/vdc... (writable unless :ro). Repeatable' })
      .option('timeout', { type: 'number', describe: 'Kill CMD after S seconds (then exit 124)' })
      .option('memory', { type: 'number', describe: 'QEMU memory in MiB (default 2048; dom0 keeps 1024, the rest is for guests)' })
      .positional('cmd', { type: 'string', array: true, describe: 'the command (put it after --)' })
      // The command's words go to dom0 as typed: `sh run.sh 4.20` must not arrive as `4.2`.
      .parserConfiguration({ 'populate--': true, 'parse-numbers': false, 'parse-positional-numbers': false }) as never,
  examples: [
    ['txl lab exec -- xl list', 'List domains with the reference xl in a Xen 4.17 dom0'],
    ['txl lab exec --xen 4.20 --add guest.cfg -- xl create guest.cfg', 'Boot a guest under Xen 4.20'],
    ['txl lab exec --memory 4096 -- xl info', 'A lab with 4 GiB (about 3 GiB free for guests)'],
  ],
  run: async (args, io) => {
    const { labExec } = await import('../../../lab/cli.js');
    await refreshBundle(io);
    const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
    return labExec(
      {
        xen: args.xen,
        adds: list(args.add),
        disks: list(args.disk),
        ...(args.timeout !== undefined ? { timeoutSeconds: args.timeout } : {}),
        ...(args.memory !== undefined ? { memoryMiB: args.memory } : {}),
        command: [...(args.cmd ?? []), ...(args['--'] ?? [])].map(String),
        cwd: process.cwd(),
      },
      labIo(io, args.verbose),
    );
  },
});

interface ShellArgs {
  xen: string;
  add?: string | string[];
}

const labShellCommand = defineCommand<ShellArgs>({
  command: 'shell',
  describe: 'Boot the lab and open an interactive dom0 shell (exit the shell to stop QEMU)',
  builder: (y) =>
    y
      .option('xen', { type: 'string', choices: ['4.17', '4.20'], default: '4.17', describe: 'Xen version' })
      .option('add', { type: 'string', describe: 'HOST[:LAB] file or folder to show in dom0. Repeatable' }) as never,
  run: async (args, io) => {
    const { labShell } = await import('../../../lab/cli.js');
    await refreshBundle(io);
    const adds = args.add === undefined ? [] : Array.isArray(args.add) ? args.add : [args.add];
    return labShell({ xen: args.xen, adds, cwd: process.cwd() }, labIo(io, args.verbose), io.stdin);
  },
});

/** `txl lab ...` */
export const labCommand = defineGroup({
  command: 'lab',
  describe: 'Real Xen (4.17, 4.20) under QEMU: run commands in its dom0',
  subcommands: [labExecCommand, labShellCommand],
});
