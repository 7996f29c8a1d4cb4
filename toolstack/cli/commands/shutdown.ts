// `txl shutdown [-w[w]] [-a] [-F] [DOMAIN]` and `txl reboot ...`: the PV control protocol as xl uses it
// (xl_vmcontrol.c main_shutdown_or_reboot): control/shutdown = poweroff|reboot, wait for the guest's
// acknowledgement, -w wait for the shutdown (-ww for the domain to be gone), -a every guest; -F (txl)
// falls back to SCHEDOP_remote_shutdown for guests without PV control (xl's -F is ACPI, HVM only).
import type { Argv } from 'yargs';
import { defineCommand, type CliIo, type GlobalArgs } from '../command.js';

interface ShutdownArgs {
  readonly domain: string | undefined;
  readonly wait: number;
  readonly all: boolean;
  readonly fallback: boolean;
}

const builder = (yargs: Argv<GlobalArgs>): Argv<ShutdownArgs> =>
  yargs
    .positional('domain', { type: 'string', describe: 'domain name or id' })
    .option('all', { alias: 'a', type: 'boolean', default: false, describe: 'Every domain except dom0' })
    .option('wait', { alias: 'w', type: 'count', describe: 'Wait for the shutdown to complete (-ww: until the domain is gone)' })
    .option('fallback', {
      alias: 'F', type: 'boolean', default: false,
      describe: 'Guests without PV control (or not answering): have Xen shut them down (SCHEDOP_remote_shutdown)',
    }) as unknown as Argv<ShutdownArgs>;

async function run(cmd: 'poweroff' | 'reboot', args: ShutdownArgs, io: CliIo): Promise<number> {
  const t = await import('../table.js');
  const lc = await import('../../lifecycle/index.js');
  if (args.domain === undefined && !args.all) {
    throw new lc.LifecycleError('TXL_LC_ARGS', 'You must specify -a or a domain id.', { hint: `txl ${cmd === 'poweroff' ? 'shutdown' : 'reboot'} [-w] [-F] DOMAIN, or -a for every guest` });
  }
  const timeoutText = process.env.TXL_PVCONTROL_TIMEOUT_MS;
  const ackTimeoutMs = timeoutText && /^\d+$/.test(timeoutText) ? Number(timeoutText) : lc.PVCONTROL_ACK_TIMEOUT_MS;
  return t.withCliContext(async (ctx) => {
    const store = lc.asLifecycleStore(await ctx.store());
    let domids: number[];
    if (args.all) {
      domids = (await ctx.hv.listDomains()).map((d) => d.domid).filter((id) => id !== 0);
    } else {
      domids = [await t.resolveDomain(ctx, String(args.domain))];
    }
    const what = cmd === 'poweroff' ? 'shut the domain down' : 'reboot the domain';
    // -w: watch before asking, so a guest destroyed right after it shut down (the monitor's
    // on_poweroff="destroy", or -F where Xen shuts it down within the call) is still reported as shut down.
    const waiter = args.wait > 0 ? await lc.startWaitingForDomains(ctx.hv, store, domids) : undefined;
    try {
      for (const domid of domids) {
        io.err(`${cmd === 'poweroff' ? 'Shutting down' : 'Rebooting'} domain ${domid}\n`);
        await lc.requestShutdown(ctx.hv, store, domid, cmd, {
          fallback: args.fallback,
          ackTimeoutMs,
          onFallback: (why) =>
            io.err(
              why === 'no-feature'
                ? `PV control interface not available: asking Xen to ${what} (SCHEDOP_remote_shutdown).\n`
                : `guest didn't acknowledge control request: asking Xen to ${what} (SCHEDOP_remote_shutdown).\n`,
            ),
        });
      }
      if (waiter) await waiter.wait(args.wait > 1, (line) => io.err(`${line}\n`));
    } finally {
      await waiter?.close();
    }
    return 0;
  });
}

/** `txl shutdown` */
export const shutdownCommand = defineCommand<ShutdownArgs>({
  command: 'shutdown [domain]',
  describe: 'Ask a domain to power off (PV control/shutdown)',
  builder,
  examples: [['txl shutdown -w web', 'power off guest "web" and wait until it has shut down'], ['txl shutdown -F mini', 'a guest without PV drivers: Xen shuts it down']],
  run: async (args, io) => run('poweroff', args, io),
});

/** `txl reboot` */
export const rebootCommand = defineCommand<ShutdownArgs>({
  command: 'reboot [domain]',
  describe: 'Ask a domain to reboot (PV control/shutdown)',
  builder,
  run: async (args, io) => run('reboot', args, io),
});
