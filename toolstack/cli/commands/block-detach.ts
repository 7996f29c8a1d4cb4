// `txl block-detach [-f] DOMAIN DEVID` (xl block-detach): unplug a disk (Closing/Closed handshake with
// the guest, then its nodes and loop device are removed; -f does not wait for the guest).
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface BlockDetachArgs {
  readonly domain: string;
  readonly devid: string;
  readonly force: boolean;
  readonly timeout: number;
}

/** `txl block-detach` */
export const blockDetachCommand = defineCommand<BlockDetachArgs>({
  command: 'block-detach <domain> <devid>',
  describe: "Destroy a domain's virtual block device",
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .positional('domain', { type: 'string', demandOption: true, describe: 'domain name or id' })
      .positional('devid', { type: 'string', demandOption: true, describe: 'the disk: its vdev (xvdb) or device number (51728)' })
      .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'do not wait for the domain to release the device' })
      .option('timeout', { alias: 't', type: 'number', default: 20, describe: 'Seconds the guest gets to release the device' })
      .parserConfiguration({ 'parse-positional-numbers': false }) as unknown as Argv<BlockDetachArgs>,
  run: async (args) => {
    const t = await import('../table.js');
    const { blockDetach, defaultHotplugHost } = await import('../../devices/index.js');
    const { attachStore, updateSavedDevices } = await import('./block-list.js');
    return t.withCliContext(async (ctx) => {
      const domid = await t.resolveDomain(ctx, String(args.domain));
      const devid = await blockDetach(await attachStore(ctx, 'block-detach'), await defaultHotplugHost(), domid, String(args.devid), args.force, { timeoutMs: args.timeout * 1000 });
      await updateSavedDevices(ctx, domid, 'disks', { removeDevid: devid });
      return 0;
    });
  },
});
