// `txl network-detach DOMAIN DEVID|MAC` (xl network-detach): unplug a vif (Closing/Closed handshake,
// then torn down, also when the guest does not answer within the timeout, as libxl does).
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface NetworkDetachArgs {
  readonly domain: string;
  readonly device: string;
  readonly timeout: number;
}

/** `txl network-detach` */
export const networkDetachCommand = defineCommand<NetworkDetachArgs>({
  command: 'network-detach <domain> <device>',
  describe: "Destroy a domain's virtual network device (by devid or MAC)",
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .positional('domain', { type: 'string', demandOption: true, describe: 'domain name or id' })
      .positional('device', { type: 'string', demandOption: true, describe: 'devid (0) or MAC (00:16:3e:..)' })
      .option('timeout', { alias: 't', type: 'number', default: 20, describe: 'Seconds the guest gets to release the device' })
      .parserConfiguration({ 'parse-positional-numbers': false }) as unknown as Argv<NetworkDetachArgs>,
  run: async (args) => {
    const t = await import('../table.js');
    const { networkDetach, defaultHotplugHost } = await import('../../devices/index.js');
    const { attachStore, updateSavedDevices } = await import('./block-list.js');
    return t.withCliContext(async (ctx) => {
      const domid = await t.resolveDomain(ctx, String(args.domain));
      const devid = await networkDetach(await attachStore(ctx, 'network-detach'), await defaultHotplugHost(), domid, String(args.device), { timeoutMs: args.timeout * 1000 });
      await updateSavedDevices(ctx, domid, 'nics', { removeDevid: devid });
      return 0;
    });
  },
});
