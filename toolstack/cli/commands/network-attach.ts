// `txl network-attach DOMAIN [KEY=VALUE...]` (xl network-attach): hot-plug a vif into a domain.
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface NetworkAttachArgs {
  readonly domain: string;
  readonly settings?: readonly string[];
  readonly timeout: number;
}

/** `txl network-attach` */
export const networkAttachCommand = defineCommand<NetworkAttachArgs>({
  command: 'network-attach <domain> [settings..]',
  describe: 'Create a new virtual network device ([type=] [mac=] [bridge=] [ip=] [script=] [backend=] [vifname=] [rate=] [model=] [mtu=])',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .positional('domain', { type: 'string', demandOption: true, describe: 'domain name or id' })
      .positional('settings', { type: 'string', array: true, describe: 'xl-network-configuration(5) KEY=VALUE settings' })
      .option('timeout', { alias: 't', type: 'number', default: 20, describe: 'Seconds to wait for the backend' })
      .parserConfiguration({ 'parse-positional-numbers': false }) as unknown as Argv<NetworkAttachArgs>,
  examples: [['txl network-attach web bridge=xenbr0', 'a second vif on xenbr0 with a random 00:16:3e MAC']],
  run: async (args) => {
    const t = await import('../table.js');
    const { networkAttach, defaultHotplugHost } = await import('../../devices/index.js');
    const { attachStore, updateSavedDevices } = await import('./block-list.js');
    const { libxlNicJson } = await import('../../config/libxl-json.js');
    return t.withCliContext(async (ctx) => {
      const domid = await t.resolveDomain(ctx, String(args.domain));
      const { vif, mac } = await networkAttach(await attachStore(ctx, 'network-attach'), await defaultHotplugHost(), domid, (args.settings ?? []).map(String), { timeoutMs: args.timeout * 1000 });
      await updateSavedDevices(ctx, domid, 'nics', { add: libxlNicJson(vif, mac) });
      return 0;
    });
  },
});
