// `txl unpause DOMAIN`: XEN_DOMCTL_unpausedomain (like xl unpause).
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface UnpauseArgs {
  readonly domain: string;
}

/** `txl unpause` */
export const unpauseCommand = defineCommand<UnpauseArgs>({
  command: 'unpause <domain>',
  describe: 'Unpause a domain (undo one pause, or start a domain created paused)',
  builder: (yargs: Argv<GlobalArgs>) => yargs.positional('domain', { type: 'string', demandOption: true, describe: 'domain name or id' }) as unknown as Argv<UnpauseArgs>,
  run: async (args) => {
    const t = await import('../table.js');
    return t.withCliContext(async (ctx) => {
      await ctx.hv.unpause(await t.resolveDomain(ctx, String(args.domain)));
      return 0;
    });
  },
});
