// `txl list [-l] [DOMAIN...]`: domains with xl list's columns and format (tools/xl/xl_info.c).
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface ListArgs {
  readonly domains?: readonly string[];
  readonly long: boolean;
}

/** `txl list` */
export const listCommand = defineCommand<ListArgs>({
  command: 'list [domains..]',
  describe: 'List domains (Name, ID, Mem, VCPUs, State, Time) like xl list',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .positional('domains', { type: 'string', array: true, describe: 'domain names or ids (default: all)' })
      .option('long', { alias: 'l', type: 'boolean', default: false, describe: "Print each domain's saved configuration as JSON (xl list -l)" }) as unknown as Argv<ListArgs>,
  examples: [['txl list', 'all domains'], ['txl list web 3', 'two domains'], ['txl list --json', 'machine-readable']],
  run: async (args, io) => {
    const t = await import('../table.js');
    const { printJson } = await import('../command.js');
    return t.withCliContext(async (ctx) => {
      const wanted = (args.domains ?? []).map(String);
      const infos = wanted.length
        ? await Promise.all(wanted.map(async (q) => ctx.hv.getDomainInfo(await t.resolveDomain(ctx, q))))
        : await ctx.hv.listDomains();
      if (args.long) {
        // xl_info.c list_domains_details: libxl_retrieve_domain_configuration per domain (those without
        // a saved config are skipped), one yajl array, then puts' newline.
        const { retrieveDomainConfig } = await import('../../operations/index.js');
        const { formatYajl } = await import('../../config/libxl-json.js');
        const dir = ctx.userdataDir;
        const store = await ctx.store();
        const configs = dir === undefined ? [] : await Promise.all(infos.map(async (d) => ({ domid: d.domid, config: await retrieveDomainConfig(ctx.hv, store, d, dir) })));
        io.out(`${formatYajl(configs.flatMap((c) => (c.config ? [{ domid: c.domid, config: c.config }] : [])))}\n`);
        return 0;
      }
      const names = await Promise.all(infos.map((d) => t.domainName(ctx, d.domid)));
      if (args.json) {
        printJson(io, infos.map((d, i) => t.domainJson(names[i], d)));
        return 0;
      }
      io.out(`${t.LIST_HEADER}\n${infos.map((d, i) => `${t.formatListRow(names[i], d)}\n`).join('')}`);
      return 0;
    });
  },
});
