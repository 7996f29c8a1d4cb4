// `txl dmesg [-c]`: the hypervisor's console ring (sysctl readconsole), like xl dmesg.
import type { Argv } from 'yargs';
import { defineCommand, type GlobalArgs } from '../command.js';

interface DmesgArgs {
  readonly clear: boolean;
}

/** `txl dmesg` */
export const dmesgCommand = defineCommand<DmesgArgs>({
  command: 'dmesg',
  describe: "Print Xen's console ring (boot messages, warnings)",
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs.option('clear', { alias: 'c', type: 'boolean', default: false, describe: 'Clear the ring after reading it' }) as unknown as Argv<DmesgArgs>,
  run: async (args, io) => {
    const t = await import('../table.js');
    return t.withCliContext(async ({ hv }) => {
      const text = await hv.readConsole(args.clear);
      io.out(args.json ? `${JSON.stringify({ console: text })}\n` : text);
      return 0;
    });
  },
});
