// `txl network-list DOMAIN...` (xl network-list): a domain's virtual network interfaces, in xl's columns.
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface NetworkListArgs {
  readonly domains: readonly string[];
}

/** `txl network-list` */
export const networkListCommand = defineCommand<NetworkListArgs>({
  command: 'network-list <domains..>',
  describe: 'List virtual network interfaces for a domain',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs.positional('domains', { type: 'string', array: true, demandOption: true, describe: 'domain names or ids' })
      .parserConfiguration({ 'parse-positional-numbers': false }) as unknown as Argv<NetworkListArgs>,
  run: async (args, io) => {
    const { listDevices } = await import('./block-list.js');
    return listDevices((args.domains ?? []).map(String), 'vif', args.json, io);
  },
});
