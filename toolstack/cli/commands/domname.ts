// `txl domname ID`: the name of a domain id (xenstore /local/domain/ID/name), like xl domname.
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface DomnameArgs {
  readonly id: string;
}

/** `txl domname` */
export const domnameCommand = defineCommand<DomnameArgs>({
  command: 'domname <id>',
  describe: 'Print the name of the domain with this id',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs.positional('id', { type: 'string', demandOption: true, describe: 'domain id' }).parserConfiguration({ 'parse-positional-numbers': false }) as unknown as Argv<DomnameArgs>,
  run: async (args, io) => {
    const t = await import('../table.js');
    const { HypervisorError, noSuchDomain } = await import('../../../hypervisor/errors.js');
    const text = String(args.id);
    if (!/^\d+$/.test(text)) {
      throw new HypervisorError('TXL_HV_EINVAL', `'${text}' is not a domain id`, { hint: "Give a number; 'txl domid NAME' maps names to ids." });
    }
    return t.withCliContext(async (ctx) => {
      const domid = Number(text);
      const name = (await ctx.hv.findDomain(domid)) ? await t.domainName(ctx, domid) : undefined;
      if (name === undefined) throw noSuchDomain(text);
      io.out(args.json ? `${JSON.stringify({ domid, name })}\n` : `${name}\n`);
      return 0;
    });
  },
});
