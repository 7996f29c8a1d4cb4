// `txl block-list DOMAIN...` (xl block-list): a domain's virtual block devices, in xl's columns.
import type { Argv } from 'yargs';
import { defineCommand, printJson, type GlobalArgs } from '../command.js';
import type { CliContext } from '../table.js';
import type { AttachStore } from '../../devices/index.js';
import type { LibxlJson } from '../../config/libxl-json.js';

interface BlockListArgs {
  readonly domains: readonly string[];
}

/** The context's store as attach/detach need it (watches: xenstored, not the simulator's state file). */
export async function attachStore(ctx: CliContext, command: string): Promise<AttachStore> {
  const { XenstoreClient } = await import('../../../xenstore/index.js');
  const { TxlError } = await import('../../../common/errors.js');
  const store = await ctx.store();
  if (!(store instanceof XenstoreClient)) {
    throw new TxlError('TXL_CREATE_UNAVAILABLE', `txl ${command} needs xenstored (the simulator state file cannot run device back-ends)`);
  }
  return store;
}

/**
 * Keeps libxl's saved config of `domid` in step with a hot-plugged or removed device, as libxl's
 * device add/remove do: `add` appends the device's JSON, `removeDevid` drops the one with that devid.
 */
export async function updateSavedDevices(
  ctx: CliContext, domid: number, kind: 'disks' | 'nics', change: { add: LibxlJson } | { removeDevid: number },
): Promise<void> {
  if (ctx.userdataDir === undefined) return;
  const { updateDomainConfigFile } = await import('../../operations/index.js');
  const { vdevToDevid } = await import('../../config/index.js');
  const devidOf = (d: LibxlJson): number | undefined => {
    if (typeof d !== 'object' || d === null || Array.isArray(d)) return undefined;
    const m = d as { readonly [key: string]: LibxlJson };
    if (kind === 'nics') return typeof m.devid === 'number' ? m.devid : undefined;
    return typeof m.vdev === 'string' ? vdevToDevid(m.vdev) : undefined;
  };
  await updateDomainConfigFile(ctx.userdataDir, await ctx.hv.getDomainInfo(domid), (config) => {
    const list = Array.isArray(config[kind]) ? (config[kind] as readonly LibxlJson[]) : [];
    const next = 'add' in change ? [...list, change.add] : list.filter((d) => devidOf(d) !== change.removeDevid);
    const { [kind]: _old, ...rest } = config;
    return next.length ? { ...rest, [kind]: next } : rest;
  });
}

/** Runs xl's -list for `kind` over the named domains: header, then rows; a bad name is reported and skipped as xl block-list does. */
export async function listDevices(domains: readonly string[], kind: 'vbd' | 'vif', json: boolean, io: { out(t: string): void; err(t: string): void }): Promise<number> {
  const t = await import('../table.js');
  const d = await import('../../devices/index.js');
  return t.withCliContext(async (ctx) => {
    const store = await ctx.store();
    let status = 0;
    const all: unknown[] = [];
    if (!json) io.out(kind === 'vbd' ? d.BLOCK_LIST_HEADER : d.NETWORK_LIST_HEADER);
    for (const name of domains) {
      let domid: number;
      try {
        domid = await t.resolveDomain(ctx, name);
      } catch (error) {
        // xl block-list goes on with the next domain; network-list (find_domain) stops.
        if (kind === 'vif') throw error;
        io.err(`${name} is an invalid domain identifier\n`);
        status = 1;
        continue;
      }
      if (json) all.push(...(await d.listDeviceInfo(store, domid, kind)).map((r) => ({ domid, ...r })));
      else io.out(await d.formatDeviceList(store, domid, kind));
    }
    if (json) printJson(io as Parameters<typeof printJson>[0], all);
    return status;
  });
}

/** `txl block-list` */
export const blockListCommand = defineCommand<BlockListArgs>({
  command: 'block-list <domains..>',
  describe: 'List virtual block devices for a domain',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs.positional('domains', { type: 'string', array: true, demandOption: true, describe: 'domain names or ids' })
      .parserConfiguration({ 'parse-positional-numbers': false }) as unknown as Argv<BlockListArgs>,
  run: async (args, io) => listDevices((args.domains ?? []).map(String), 'vbd', args.json, io),
});
