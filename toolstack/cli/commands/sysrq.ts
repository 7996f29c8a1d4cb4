// `txl sysrq DOMAIN LETTER`: writes the letter to control/sysrq (libxl_send_sysrq); the guest acts on it.
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface SysrqArgs {
  readonly domain: string;
  readonly key: string;
}

/** `txl sysrq` */
export const sysrqCommand = defineCommand<SysrqArgs>({
  command: 'sysrq <domain> <key>',
  describe: 'Send a SysRq key to a guest (e.g. s = sync, b = reboot)',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .positional('domain', { type: 'string', demandOption: true, describe: 'domain name or id' })
      .positional('key', { type: 'string', demandOption: true, describe: 'one SysRq letter' }) as unknown as Argv<SysrqArgs>,
  run: async (args) => {
    const t = await import('../table.js');
    const lc = await import('../../lifecycle/index.js');
    return t.withCliContext(async (ctx) => {
      const domid = await t.resolveDomain(ctx, String(args.domain));
      await lc.sendSysrq(ctx.hv, lc.asLifecycleStore(await ctx.store()), domid, String(args.key));
      return 0;
    });
  },
});
