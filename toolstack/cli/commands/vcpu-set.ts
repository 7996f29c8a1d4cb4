// `txl vcpu-set [-i] DOMAIN N`: the first N vCPUs online, the rest offline (cpu/<i>/availability, as
// libxl_set_vcpuonline does for PV guests); refuses overcommitting the host unless -i (xl_vcpu.c).
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface VcpuSetArgs {
  readonly domain: string;
  readonly count: string;
  readonly ignoreHost: boolean;
}

/** `txl vcpu-set` */
export const vcpuSetCommand = defineCommand<VcpuSetArgs>({
  command: 'vcpu-set <domain> <count>',
  describe: 'Set the number of online vCPUs of a domain',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .positional('domain', { type: 'string', demandOption: true, describe: 'domain name or id' })
      .positional('count', { type: 'string', demandOption: true, describe: 'how many vCPUs should be online' })
      .option('ignore-host', { alias: 'i', type: 'boolean', default: false, describe: "Allow more vCPUs than the host's CPUs" }) as unknown as Argv<VcpuSetArgs>,
  run: async (args) => {
    const t = await import('../table.js');
    const lc = await import('../../lifecycle/index.js');
    const count = lc.parseVcpuCount(String(args.count));
    if (count === undefined) throw new lc.LifecycleError('TXL_LC_ARGS', 'Error: Invalid argument.', { hint: 'Give the number of vCPUs to keep online, e.g. txl vcpu-set web 2' });
    return t.withCliContext(async (ctx) => {
      const domid = await t.resolveDomain(ctx, String(args.domain));
      await lc.setVcpusOnline(ctx.hv, lc.asLifecycleStore(await ctx.store()), domid, count, { checkHost: !args.ignoreHost });
      return 0;
    });
  },
});
