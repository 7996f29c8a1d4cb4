// `txl rename DOMAIN NEWNAME`: libxl_domain_rename (name unique; /local/domain/N/name and /vm/<uuid>/name).
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface RenameArgs {
  readonly domain: string;
  readonly newName: string;
}

/** `txl rename` */
export const renameCommand = defineCommand<RenameArgs>({
  command: 'rename <domain> <new-name>',
  describe: 'Rename a domain',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .positional('domain', { type: 'string', demandOption: true, describe: 'domain name or id' })
      .positional('new-name', { type: 'string', demandOption: true, describe: 'the new name' }) as unknown as Argv<RenameArgs>,
  run: async (args) => {
    const t = await import('../table.js');
    const lc = await import('../../lifecycle/index.js');
    const dom = String(args.domain);
    return t.withCliContext(async (ctx) => {
      const domid = await t.resolveDomain(ctx, dom);
      const store = lc.asLifecycleStore(await ctx.store());
      const oldName = await store.tryRead(`/local/domain/${domid}/name`);
      try {
        await lc.renameDomain(ctx.hv, store, domid, String(args.newName), oldName);
      } catch (error) {
        if (!(error instanceof lc.LifecycleError)) throw error;
        throw new lc.LifecycleError(error.code, `Can't rename domain '${dom}'.`, { hint: error.message, details: error.details, cause: error });
      }
      return 0;
    });
  },
});
