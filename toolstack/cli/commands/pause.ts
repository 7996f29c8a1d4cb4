// `txl pause DOMAIN`: XEN_DOMCTL_pausedomain (like xl pause).
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface PauseArgs {
  readonly domain: string;
}

/** `txl pause` */
export const pauseCommand = defineCommand<PauseArgs>({
  command: 'pause <domain>',
  describe: 'Pause a domain (its vCPUs stop until unpause)',
  builder: (yargs: Argv<GlobalArgs>) => yargs.positional('domain', { type: 'string', demandOption: true, describe: 'domain name or id' }) as unknown as Argv<PauseArgs>,
  run: async (args) => {
    const t = await import('../table.js');
    return t.withCliContext(async (ctx) => {
      await ctx.hv.pause(await t.resolveDomain(ctx, String(args.domain)));
      return 0;
    });
  },
});
