// `txl block-attach DOMAIN DISK-SPEC-COMPONENT...` (xl block-attach): hot-plug a disk into a domain.
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface BlockAttachArgs {
  readonly domain: string;
  readonly spec: readonly string[];
  readonly timeout: number;
}

/** `txl block-attach` */
export const blockAttachCommand = defineCommand<BlockAttachArgs>({
  command: 'block-attach <domain> <spec..>',
  describe: 'Create a new virtual block device (xl-disk-configuration(5) components, as with xl)',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .positional('domain', { type: 'string', demandOption: true, describe: 'domain name or id' })
      .positional('spec', { type: 'string', array: true, demandOption: true, describe: "disk spec components, e.g. 'format=raw, vdev=xvdb, access=rw, target=/srv/data.img'" })
      .option('timeout', { alias: 't', type: 'number', default: 20, describe: 'Seconds to wait for the backend' })
      .parserConfiguration({ 'parse-positional-numbers': false }) as unknown as Argv<BlockAttachArgs>,
  examples: [['txl block-attach web /srv/data.img,raw,xvdb,rw', 'give domain web a second disk from an image file (a loop device)']],
  run: async (args) => {
    const t = await import('../table.js');
    const { blockAttach, defaultHotplugHost } = await import('../../devices/index.js');
    const { attachStore, updateSavedDevices } = await import('./block-list.js');
    const { libxlDiskJson } = await import('../../config/libxl-json.js');
    return t.withCliContext(async (ctx) => {
      const domid = await t.resolveDomain(ctx, String(args.domain));
      const disk = await blockAttach(await attachStore(ctx, 'block-attach'), await defaultHotplugHost(), domid, (args.spec ?? []).map(String), { timeoutMs: args.timeout * 1000 });
      await updateSavedDevices(ctx, domid, 'disks', { add: libxlDiskJson(disk) });
      return 0;
    });
  },
});
