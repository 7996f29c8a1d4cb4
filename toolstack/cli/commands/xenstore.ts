// `txl xenstore read|write|ls|list|rm|exists|chmod|watch`: the xenstore-* tools, byte for byte.
import type { Argv } from 'yargs';
import { defineCommand, defineGroup, type AnyTxlCommand, type CliIo, type GlobalArgs } from '../command.js';

interface ToolArgs {
  readonly args?: readonly (string | number)[];
  readonly '--'?: readonly (string | number)[];
}

const DESCRIPTIONS = {
  read: ['read [args..]', 'Print the values of xenstore keys (xenstore-read: -p prefix, -R raw)'],
  write: ['write [args..]', 'Write key value pairs (xenstore-write: -R raw, else \\-escapes are decoded)'],
  ls: ['ls [args..]', 'Print a xenstore subtree with values (xenstore-ls: -f full paths, -p permissions)'],
  list: ['list [args..]', 'List the children of keys (xenstore-list: -p prefix)'],
  rm: ['rm [args..]', 'Remove keys and their subtrees (xenstore-rm: -t also removes empty parents)'],
  exists: ['exists [args..]', 'Exit 0 if all keys exist, else 1 (xenstore-exists)'],
  chmod: ['chmod [args..]', 'Set permissions: key n|r|w|b<domid>... (xenstore-chmod: -u up to root, -r recursive)'],
  watch: ['watch [args..]', 'Print the paths of watch events (xenstore-watch: -n count)'],
} as const;

type Mode = keyof typeof DESCRIPTIONS;

function toolCommand(mode: Mode): AnyTxlCommand {
  const [command, describe] = DESCRIPTIONS[mode];
  return defineCommand<ToolArgs>({
    command,
    describe,
    builder: (yargs: Argv<GlobalArgs>) =>
      yargs
        .strict(false)
        .parserConfiguration({ 'unknown-options-as-args': true, 'populate--': true, 'camel-case-expansion': false, 'parse-numbers': false, 'parse-positional-numbers': false })
        .positional('args', { type: 'string', array: true, describe: 'keys, values, permissions and xenstore-* options' }) as unknown as Argv<ToolArgs>,
    run: async (args, io: CliIo) => {
      const { runXenstoreTool, toolConnector } = await import('../../../xenstore/tool.js');
      const words = (args.args ?? []).map(String);
      if (args['--'] !== undefined) words.push('--', ...args['--'].map(String));
      return runXenstoreTool(mode, words, {
        out: (bytes) => io.out(typeof bytes === 'string' ? bytes : bytes.toString('utf8')),
        err: (text) => io.err(text),
        columns: io.stdoutIsTTY ? process.stdout.columns : undefined,
        connect: toolConnector(),
      }, `txl xenstore ${mode}`);
    },
  });
}

/** `txl xenstore ...` */
export const xenstoreCommand = defineGroup({
  command: 'xenstore',
  describe: 'Read, write, list, watch and chmod xenstore nodes (the xenstore-* tools)',
  subcommands: (Object.keys(DESCRIPTIONS) as Mode[]).map(toolCommand),
});
