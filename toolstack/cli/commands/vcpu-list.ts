// `txl vcpu-list [DOMAIN...]`: vCPUs with their CPU, state, time and affinity, like xl vcpu-list.
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface VcpuListArgs {
  readonly domains?: readonly string[];
}

/** `txl vcpu-list` */
export const vcpuListCommand = defineCommand<VcpuListArgs>({
  command: 'vcpu-list [domains..]',
  describe: 'List the vCPUs of domains (CPU, state, time, hard/soft affinity)',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs.positional('domains', { type: 'string', array: true, describe: 'domain names or ids (default: all)' }) as unknown as Argv<VcpuListArgs>,
  run: async (args, io) => {
    const t = await import('../table.js');
    const { printJson } = await import('../command.js');
    return t.withCliContext(async (ctx) => {
      const nrCpus = (await ctx.hv.physinfo()).maxCpuId + 1;
      const wanted = (args.domains ?? []).map(String);
      const domids = wanted.length
        ? await Promise.all(wanted.map((q) => t.resolveDomain(ctx, q)))
        : (await ctx.hv.listDomains()).map((d) => d.domid);
      const rows: { name: string | undefined; domid: number; vcpus: Awaited<ReturnType<typeof ctx.hv.listVcpus>> }[] = [];
      for (const domid of domids) rows.push({ name: await t.domainName(ctx, domid), domid, vcpus: await ctx.hv.listVcpus(domid) });
      if (args.json) {
        printJson(io, rows.flatMap((r) => r.vcpus.map((v) => ({ name: r.name ?? null, domid: r.domid, ...v, cpuTimeSeconds: Number(v.cpuTimeNs) / 1e9 }))));
        return 0;
      }
      let text = `${t.VCPU_HEADER}\n`;
      for (const r of rows) for (const v of r.vcpus) text += `${t.formatVcpuRow(r.name, r.domid, v, nrCpus)}\n`;
      io.out(text);
      return 0;
    });
  },
});
