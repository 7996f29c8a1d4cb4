// `txl mem-set DOMAIN SIZE` and `txl mem-max DOMAIN SIZE` (xl_mem.c): sizes as xl parses them (a number
// and one of b k m g t; MiB by default); mem-set moves the balloon target (memory/target) and Xen's
// max_mem with it, mem-max the static maximum (memory/static-max and max_mem).
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface MemArgs {
  readonly domain: string;
  readonly size: string;
}

const builder = (yargs: Argv<GlobalArgs>): Argv<MemArgs> =>
  yargs
    .positional('domain', { type: 'string', demandOption: true, describe: 'domain name or id' })
    .positional('size', { type: 'string', demandOption: true, describe: 'memory size: 512, 512m, 1g, 262144k' }) as unknown as Argv<MemArgs>;

async function run(which: 'set' | 'max', args: MemArgs): Promise<number> {
  const t = await import('../table.js');
  const lc = await import('../../lifecycle/index.js');
  const size = String(args.size);
  const kb = lc.parseMemSizeKb(size);
  if (kb === undefined || kb < 0n) {
    throw new lc.LifecycleError('TXL_LC_ARGS', `invalid memory size: ${size}`, { hint: 'A number with an optional unit b, k, m (the default) or g: 512, 1g, 262144k.' });
  }
  return t.withCliContext(async (ctx) => {
    const domid = await t.resolveDomain(ctx, String(args.domain));
    const store = lc.asLifecycleStore(await ctx.store());
    try {
      if (which === 'set') await lc.setMemoryTarget(ctx.hv, store, domid, kb);
      else await lc.setMaxMemory(ctx.hv, store, domid, kb);
    } catch (error) {
      if (!(error instanceof lc.LifecycleError)) throw error;
      const what = which === 'set' ? 'dynamic' : 'static';
      throw new lc.LifecycleError(error.code, `cannot set domid ${domid} ${what} max memory to : ${size}`, {
        hint: error.hint ? `${error.message}. ${error.hint}` : error.message, details: error.details, cause: error,
      });
    }
    return 0;
  });
}

/** `txl mem-set` */
export const memSetCommand = defineCommand<MemArgs>({
  command: 'mem-set <domain> <size>',
  describe: "Set a domain's memory target (balloon)",
  builder,
  run: async (args) => run('set', args),
});

/** `txl mem-max` */
export const memMaxCommand = defineCommand<MemArgs>({
  command: 'mem-max <domain> <size>',
  describe: "Set a domain's maximum memory",
  builder,
  run: async (args) => run('max', args),
});
