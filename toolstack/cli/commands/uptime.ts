// `txl uptime [-s] [DOMAIN...]`: how long domains have run (dom0: /proc/uptime; others: /vm/<uuid>/start_time).
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface UptimeArgs {
  readonly domains?: readonly string[];
  readonly short: boolean;
}

/** `txl uptime` */
export const uptimeCommand = defineCommand<UptimeArgs>({
  command: 'uptime [domains..]',
  describe: 'Print the uptime of domains like xl uptime',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .positional('domains', { type: 'string', array: true, describe: 'domain names or ids (default: all)' })
      .option('short', { alias: 's', type: 'boolean', default: false, describe: 'Short output, like uptime(1)' }) as unknown as Argv<UptimeArgs>,
  run: async (args, io) => {
    const t = await import('../table.js');
    const { readFile } = await import('node:fs/promises');
    const { printJson } = await import('../command.js');
    return t.withCliContext(async (ctx) => {
      const now = new Date();
      const store = await ctx.store();
      const wanted = (args.domains ?? []).map(String);
      const domids = wanted.length
        ? await Promise.all(wanted.map((q) => t.resolveDomain(ctx, q)))
        : [0, ...(await ctx.hv.listDomains()).map((d) => d.domid).filter((id) => id !== 0)];
      const rows: { name: string | undefined; domid: number; seconds: number }[] = [];
      for (const domid of domids) {
        let seconds: number | undefined;
        if (domid === 0) {
          seconds = Math.trunc(Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]));
        } else {
          const vm = await store.tryRead(`/local/domain/${domid}/vm`);
          const start = vm === undefined ? undefined : await store.tryRead(`${vm}/start_time`);
          if (start !== undefined) seconds = Math.trunc(now.getTime() / 1000) - Math.trunc(Number.parseFloat(start));
        }
        if (seconds !== undefined) rows.push({ name: await t.domainName(ctx, domid), domid, seconds });
      }
      if (args.json) {
        printJson(io, rows.map((r) => ({ name: r.name ?? null, domid: r.domid, uptimeSeconds: r.seconds })));
        return 0;
      }
      let text = args.short ? '' : `${t.UPTIME_HEADER}\n`;
      for (const r of rows) text += `${t.formatUptimeLine(r.name, r.domid, r.seconds, args.short, now)}\n`;
      io.out(text);
      return 0;
    });
  },
});
