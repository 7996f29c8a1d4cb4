// `txl info [NAME]`: host and hypervisor facts with xl info's keys and format (tools/xl/xl_info.c).
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface InfoArgs {
  readonly name?: string;
}

/** `txl info` */
export const infoCommand = defineCommand<InfoArgs>({
  command: 'info [name]',
  describe: 'Print host and hypervisor information like xl info',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs.positional('name', { type: 'string', describe: "print only the values of keys starting with NAME (e.g. 'free_memory')" }) as unknown as Argv<InfoArgs>,
  examples: [['txl info', 'everything'], ['txl info free_memory', 'one value'], ['txl info --json', 'as JSON']],
  run: async (args, io) => {
    const t = await import('../table.js');
    const { printJson } = await import('../command.js');
    return t.withCliContext(async ({ hv }) => {
      const [p, x, v] = [await hv.physinfo(), await hv.hostExtras(), await hv.xenVersion()];
      const fields = t.infoFields(t.hostUname(), p, x, v);
      if (args.json) printJson(io, Object.fromEntries(args.name ? fields.filter(([k]) => k.startsWith(args.name!)) : fields));
      else io.out(args.name ? t.filterInfo(fields, args.name) : t.formatInfoLines(fields));
      return 0;
    });
  },
});
