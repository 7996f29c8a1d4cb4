// txl's command line: builds the yargs parser from the command list and owns the single error handler.
import yargs, { type Argv, type CommandModule } from 'yargs';
import { isTxlError, messageOf } from '../../common/errors.js';
import { nearest } from '../../common/suggest.js';
import type { AnyTxlCommand, CliIo, GlobalArgs, TxlCommand } from './command.js';
import { COMMANDS } from './commands/index.js';
import { txlVersion } from './version.js';

/** Exit status for command-line usage errors (unknown command or option, bad value). */
export const EXIT_USAGE = 2;

/** The version in the package.json this file ships in (lives in version.ts so entry.ts can answer --version without yargs). */
export { txlVersion };

/** The real terminal. */
export function processIo(): CliIo {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    stdin: process.stdin,
    stdoutIsTTY: process.stdout.isTTY === true,
  };
}

class UsageError extends Error {}

function commandName(command: AnyTxlCommand): string {
  return commandNames(command)[0] ?? '';
}

/** The words that run `command`: its name and aliases (yargs: the first word of each command string). */
function commandNames(command: AnyTxlCommand): string[] {
  const spec = command.command;
  return (typeof spec === 'string' ? [spec] : [...spec]).map((s) => s.split(' ')[0] ?? '');
}

/**
 * The commands the parser needs for `argv`: only the one its first word names, when it names one (what
 * yargs would run; its help and errors mention no other command), else all of them (`txl --help`, an
 * unknown or misspelt command for recommendCommands, `txl completion`). Registering all ~30 commands was
 * a quarter of buildParser's time for `txl create` (12 ms against 9 ms on the build host; buildParser was
 * 0.14 s of a --cpu-prof of `txl create` in the lab's emulated dom0).
 */
export function commandsFor(argv: readonly string[]): readonly AnyTxlCommand[] {
  // txl's global options (--json, -v) take no value, so the first word that is not an option is the command.
  const first = argv.find((a) => !a.startsWith('-'));
  const named = first === undefined ? undefined : COMMANDS.find((c) => commandNames(c).includes(first));
  return named ? [named] : COMMANDS;
}

function register(parser: Argv<GlobalArgs>, command: AnyTxlCommand, io: CliIo, setStatus: (status: number) => void): Argv<GlobalArgs> {
  if ('subcommands' in command) {
    return parser.command(
      command.command,
      command.describe,
      (sub) => {
        for (const child of command.subcommands) register(sub, child, io, setStatus);
        return sub.demandCommand(1, `'txl ${command.command}' needs a subcommand: ${command.subcommands.map(commandName).join(', ')}`);
      },
    );
  }
  const leaf: TxlCommand<Record<string, unknown>> = command;
  const module: CommandModule<GlobalArgs, Record<string, unknown>> = {
    command: leaf.command as string | string[],
    describe: leaf.describe,
    builder: (sub: Argv<GlobalArgs>) => {
      const built = leaf.builder ? leaf.builder(sub) : sub;
      for (const [example, description] of leaf.examples ?? []) built.example(example, description);
      return built;
    },
    handler: async (args) => {
      const status = await leaf.run(args as Parameters<typeof leaf.run>[0], io);
      setStatus(status ?? 0);
    },
  };
  return parser.command(module);
}

/**
 * yargs renders the whole help text of the command it runs right after starting the command's handler
 * (command.js: cacheHelpMessage), in case a failure later wants to print it. txl's fail handler never
 * prints help, so that rendering is pure cost on every command: column layout and string widths
 * (Intl.Segmenter, an emoji regex), seconds of CPU in the lab's emulated dom0. `--help` still renders
 * (it does not use the cache). getInternalMethods is yargs' own, not in its typings.
 */
function skipHelpCaching(parser: Argv<GlobalArgs>): void {
  const internal = parser as unknown as { getInternalMethods?: () => { getUsageInstance(): { cacheHelpMessage(): void } } };
  const usage = internal.getInternalMethods?.().getUsageInstance();
  if (usage) usage.cacheHelpMessage = () => undefined;
}

/** Builds the parser. Exposed for tests that check parsing and help without running a command. */
export function buildParser(
  argv: readonly string[], io: CliIo, setStatus: (status: number) => void = () => {}, commands: readonly AnyTxlCommand[] = commandsFor(argv),
): Argv<GlobalArgs> {
  let parser = yargs([...argv])
    .scriptName('txl')
    .usage('txl: a Xen toolstack\n\nUsage: txl <command> [options]')
    .option('json', { type: 'boolean', default: false, describe: 'Machine-readable JSON output' })
    .option('verbose', { alias: 'v', type: 'count', describe: 'More detail (repeat for more); stack traces on errors' })
    .strict()
    .recommendCommands()
    .demandCommand(1, 'Name a command: txl --help lists them.')
    .completion('completion', 'Print a bash/zsh completion script (source it from your shell rc)')
    .help('help')
    .alias('help', 'h')
    .version('version', 'Show the txl version', txlVersion())
    .wrap(Math.min(100, process.stdout.columns ?? 80))
    .exitProcess(false)
    .fail((message, error) => {
      if (error) throw error;
      throw new UsageError(withSuggestion(message ?? 'invalid usage', parser, argv));
    }) as unknown as Argv<GlobalArgs>;
  skipHelpCaching(parser);
  for (const command of commands) parser = register(parser, command, io, setStatus);
  // `txl help CMD` is `txl CMD --help`.
  parser = parser.command('help [command..]', 'Show help for a command', {}, () => {}) as Argv<GlobalArgs>;
  return parser;
}

/** The long option names the parser knows at this point (global ones and the current command's). */
function knownOptions(parser: Argv<GlobalArgs>): string[] {
  // getOptions() is public on yargs' instance but missing from @types/yargs.
  const options = (parser as unknown as { getOptions(): { key: Record<string, unknown>; alias: Record<string, string[]> } }).getOptions();
  const names = new Set([...Object.keys(options.key), ...Object.values(options.alias).flat()]);
  return [...names].filter((k) => k !== '$0');
}

/** "--dryrun: did you mean --dry-run?" for each unknown option word. */
function optionHints(words: readonly string[], known: readonly string[]): string[] {
  return words.flatMap((word) => {
    const bare = word.replace(/^-+/, '').replace(/=.*$/, '');
    const guess = nearest(bare, known);
    return guess ? [`--${bare}: did you mean --${guess}?`] : [];
  });
}

/** Rewrites yargs' usage messages to say what was wrong and what would be accepted. */
function withSuggestion(message: string, parser: Argv<GlobalArgs>, argv: readonly string[]): string {
  const all = knownOptions(parser);
  const known = all.filter((k) => k.length > 1);
  const words = argv.filter((a) => !a.startsWith('-'));
  // yargs' recommendCommands(): "Did you mean create?" — name the word it could not place.
  const recommended = /^Did you mean (.+)\?$/.exec(message);
  if (recommended) {
    const guess = recommended[1]!;
    const typed = words.find((w) => w !== guess && nearest(w, [guess]) !== undefined) ?? words[0];
    return typed === undefined ? message : `unknown command '${typed}': did you mean '${guess}'?`;
  }
  const unknown = /^Unknown arguments?: (.+)$/.exec(message);
  if (unknown) {
    const hints = optionHints(unknown[1]!.split(', '), known);
    return hints.length ? `${message}\n${hints.join('\n')}` : message;
  }
  // yargs checks positionals before unknown options, so `create --dryrun f.cfg` (the option eating the
  // file name) would only say a positional is missing: report the unknown option first.
  const unknownOptions = argv.filter((a) => {
    if (/^--[^-]/.test(a)) return !all.includes(a.replace(/^--(no-)?/, '').replace(/=.*$/, ''));
    // -abc: a bundle of short options
    return /^-[^-]/.test(a) && [...a.slice(1)].some((c) => !all.includes(c));
  });
  if (unknownOptions.length && /^(Not enough non-option arguments|Missing required argument|Name a command)/.test(message)) {
    return [`Unknown argument${unknownOptions.length > 1 ? 's' : ''}: ${unknownOptions.map((o) => o.replace(/^-+/, '').replace(/=.*$/, '')).join(', ')}`, ...optionHints(unknownOptions, known)].join('\n');
  }
  const missing = /^Not enough non-option arguments: got (\d+), need at least (\d+)$/.exec(message);
  if (missing) {
    const group = COMMANDS.find((c) => 'subcommands' in c && commandName(c) === words[0]);
    const command = words.slice(0, group ? 2 : 1).join(' ');
    return `'txl ${command}' needs ${Number(missing[2]) - Number(missing[1])} more argument(s): see 'txl ${command} --help'`;
  }
  return message;
}

/** Runs txl with `argv` (without node and script). Returns the exit status; never throws. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let status = 0;
  const verbose = argv.some((a) => /^-v+$/.test(a) || a === '--verbose');
  const json = argv.includes('--json');
  // `txl help X Y` → `txl X Y --help`; `txl help` → `txl --help`.
  const args = argv[0] === 'help' ? [...argv.slice(1), '--help'] : [...argv];
  try {
    const parser = buildParser(args, io, (s) => (status = s));
    let helpText = '';
    await parser.parseAsync(args, {}, (err, _parsed, output) => {
      if (!err && output) helpText = output;
    });
    if (helpText) io.out(`${helpText}\n`);
    return status;
  } catch (error) {
    return reportError(error, io, { verbose, json });
  }
}

/** The one place errors become text and exit statuses. */
export function reportError(error: unknown, io: CliIo, opts: { verbose: boolean; json: boolean }): number {
  if (error instanceof UsageError) {
    io.err(`txl: ${error.message}\nRun 'txl --help' for usage.\n`);
    return EXIT_USAGE;
  }
  if (isTxlError(error)) {
    if (opts.json) {
      io.err(`${JSON.stringify({ error: { code: error.code, message: error.message, hint: error.hint, details: error.details } }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
    } else {
      io.err(`txl: ${error.message}\n`);
      if (error.hint) io.err(`hint: ${error.hint}\n`);
      if (opts.verbose) {
        io.err(`code: ${error.code}\n`);
        for (const [key, value] of Object.entries(error.details)) io.err(`  ${key}: ${String(value)}\n`);
        io.err(`${error.stack ?? ''}\n`);
        if (error.cause !== undefined) io.err(`caused by: ${error.cause instanceof Error ? error.cause.stack : String(error.cause)}\n`);
      }
    }
    return error.exitCode;
  }
  // A bug, not an expected failure: say so plainly.
  io.err(`txl: internal error: ${messageOf(error)}\n`);
  if (opts.verbose && error instanceof Error) io.err(`${error.stack ?? ''}\n`);
  else io.err("Run with -v for a stack trace, and please report it.\n");
  return 70; // EX_SOFTWARE
}
