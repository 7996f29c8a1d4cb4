// `txl config parse FILE`: the settings of an xl.cfg exactly as Xen's libxlutil holds them, as JSON.
import type { Argv } from 'yargs';
import { defineCommand, defineGroup, printJson, type GlobalArgs } from '../command.js';

interface ParseArgs {
  readonly file: string;
}

const parseCommand = defineCommand<ParseArgs>({
  command: 'parse <file>',
  describe: 'Print the settings of an xl.cfg file as JSON, exactly as xl reads them (numbers keep their spelling)',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs.positional('file', { type: 'string', demandOption: true, describe: 'xl.cfg file' }) as unknown as Argv<ParseArgs>,
  examples: [['txl config parse /etc/xen/web1.cfg', 'show what xl would read from web1.cfg']],
  run: async (args, io) => {
    const { readXlCfgFile } = await import('../../config/read.js');
    const cfg = await readXlCfgFile(String(args.file));
    printJson(io, cfg.toJSON());
    return 0;
  },
});

/** `txl config ...` */
export const configCommand = defineGroup({
  command: 'config',
  describe: 'Inspect xl.cfg domain configuration files',
  subcommands: [parseCommand],
});
