// `txl destroy [-f] DOMAIN`: kill a domain at once (XEN_DOMCTL_destroydomain) and remove what it had
// (libxl__destroy_domid: its devices with their loop devices and bridge ports, /local/domain/N, its
// /vm/<uuid>, /libxl/N and its backend directories).
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
      const { destroyDomainFully } = await import('../../operations/index.js');
      const { defaultHotplugHost } = await import('../../devices/index.js');
      await destroyDomainFully({ hypervisor: ctx.hv, store: await ctx.store(), hotplug: await defaultHotplugHost(), userdataDir: ctx.userdataDir }, domid);
      return 0;
    });
  },
});
