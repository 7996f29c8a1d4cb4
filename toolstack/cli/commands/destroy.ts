// `txl destroy [-f] DOMAIN`: kill a domain at once (XEN_DOMCTL_destroydomain) and remove its xenstore
// nodes (libxl__destroy_domid: /local/domain/N, its /vm/<uuid>, /libxl/N and its backend directories).
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface DestroyArgs {
  readonly domain: string;
  readonly force: boolean;
}

/** `txl destroy` */
export const destroyCommand = defineCommand<DestroyArgs>({
  command: 'destroy <domain>',
  describe: 'Terminate a domain immediately (no guest shutdown)',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .positional('domain', { type: 'string', demandOption: true, describe: 'domain name or id' })
      .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'Allow destroying domain 0' }) as unknown as Argv<DestroyArgs>,
  run: async (args) => {
    const t = await import('../table.js');
    const { HypervisorError } = await import('../../../hypervisor/errors.js');
    return t.withCliContext(async (ctx) => {
      const domid = await t.resolveDomain(ctx, String(args.domain));
      if (domid === 0 && !args.force) {
        throw new HypervisorError('TXL_HV_EINVAL', 'not destroying domain 0', {
          hint: 'Use -f to force; this only makes sense with a disaggregated hardware domain and toolstack.',
        });
      }
      const store = await ctx.store();
      const domPath = `/local/domain/${domid}`;
      // Collect what to remove before the domain (and xenstored's view of it) goes away.
      const vmPath = await store.tryRead(`${domPath}/vm`);
      const backends: string[] = [];
      for (const kind of await store.directory(`${domPath}/device`).catch(() => [])) {
        for (const devid of await store.directory(`${domPath}/device/${kind}`).catch(() => [])) {
          const backend = await store.tryRead(`${domPath}/device/${kind}/${devid}/backend`);
          if (backend) backends.push(backend);
        }
      }
      await ctx.hv.pause(domid).catch(() => undefined);
      await ctx.hv.destroyDomain(domid);
      const rm = async (path: string): Promise<void> => store.rm(path).catch(() => undefined);
      for (const path of backends) await rm(path);
      if (vmPath) await rm(vmPath);
      await rm(domPath);
      await rm(`/libxl/${domid}`);
      return 0;
    });
  },
});
