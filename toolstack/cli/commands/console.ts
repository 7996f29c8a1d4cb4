// `txl console [-t pv|serial|vuart] [-n N] DOMAIN`: attach to a guest's console as `xl console` does
// (xenconsole: the pty xenconsoled names in xenstore, raw mode, Ctrl-] detaches).
import type { Argv } from 'yargs';
import { defineCommand, type CliIo, type GlobalArgs } from '../command.js';

interface ConsoleArgs {
  readonly domain: string;
  readonly num: number;
  readonly type: string | undefined;
}

/** The guest's console output as a stream that writes through the CLI's io (shared with `txl create -c`). */
export async function consoleOutput(io: CliIo): Promise<NodeJS.WritableStream & { isTTY?: boolean }> {
  const { StringDecoder } = await import('node:string_decoder');
  const decoder = new StringDecoder('utf8');
  const out = { write: (chunk: Uint8Array | string) => { io.out(typeof chunk === 'string' ? chunk : decoder.write(Buffer.from(chunk))); return true; }, isTTY: io.stdoutIsTTY };
  // The console relay only calls write() and reads isTTY.
  return out as unknown as NodeJS.WritableStream & { isTTY?: boolean };
}

/** `txl console` */
export const consoleCommand = defineCommand<ConsoleArgs>({
  command: 'console <domain>',
  describe: 'Attach to a domain\'s console (Ctrl-] detaches)',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .positional('domain', { type: 'string', demandOption: true, describe: 'domain name or id' })
      .option('num', { alias: 'n', type: 'number', default: 0, describe: 'Use console number N' })
      .option('type', { alias: 't', type: 'string', describe: "Console type: 'pv', 'serial' or 'vuart'" }) as unknown as Argv<ConsoleArgs>,
  examples: [['txl console web', 'show the console of guest "web"; type Ctrl-] to leave']],
  run: async (args, io) => {
    const t = await import('../table.js');
    const { attachConsole, ConsoleError } = await import('../../console/index.js');
    const type = args.type;
    if (type !== undefined && type !== 'pv' && type !== 'serial' && type !== 'vuart') {
      throw new ConsoleError('TXL_CONSOLE_ARGS', `Invalid type argument '${type}'`, { hint: 'Console types supported are: serial, pv, vuart' });
    }
    const num = Number(args.num);
    if (!Number.isInteger(num) || num < 0) throw new ConsoleError('TXL_CONSOLE_ARGS', `invalid console number '${String(args.num)}'`, { hint: 'Give -n 0 (the primary console) or a secondary console number.' });
    return t.withCliContext(async (ctx) => {
      const domid = await t.resolveDomain(ctx, String(args.domain));
      const store = (await ctx.store()) as unknown as import('../../console/index.js').ConsoleStore;
      // xenconsole stops on SIGTERM; the library only knows AbortSignals.
      const abort = new AbortController();
      const onTerm = (): void => abort.abort();
      process.once('SIGTERM', onTerm);
      try {
        // Guest output is bytes; io.out takes text: decode UTF-8 across chunk boundaries.
        await attachConsole({
          store, domid, num, ...(type ? { type: type as 'pv' | 'serial' | 'vuart' } : {}),
          input: io.stdin as NodeJS.ReadStream, output: await consoleOutput(io), signal: abort.signal,
        });
      } finally {
        process.off('SIGTERM', onTerm);
      }
      return 0;
    });
  },
});
