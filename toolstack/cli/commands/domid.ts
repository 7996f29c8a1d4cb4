// `txl domid NAME`: the id of a named domain (xenstore /local/domain/N/name), like xl domid.
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface DomidArgs {
  readonly name: string;
}

/** `txl domid` */
export const domidCommand = defineCommand<DomidArgs>({
  command: 'domid <name>',
  describe: 'Print the id of the domain with this name',
  builder: (yargs: Argv<GlobalArgs>) => yargs.positional('name', { type: 'string', demandOption: true, describe: 'domain name' }) as unknown as Argv<DomidArgs>,
  run: async (args, io) => {
    const t = await import('../table.js');
    const { noSuchDomain } = await import('../../../hypervisor/errors.js');
    return t.withCliContext(async (ctx) => {
      const name = String(args.name);
      for (const d of await ctx.hv.listDomains()) {
        if ((await t.domainName(ctx, d.domid)) === name) {
          io.out(args.json ? `${JSON.stringify({ name, domid: d.domid })}\n` : `${d.domid}\n`);
          return 0;
        }
      }
      throw noSuchDomain(name);
    });
  },
});
