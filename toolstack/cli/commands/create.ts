// `txl create [--dry-run] FILE [KEY=VALUE...]`: resolve an xl.cfg (xl's defaults, KEY=VALUE overriding the
// file as xl does) and boot it; --dry-run prints the resolved configuration instead.
import type { Argv } from 'yargs';
import { defineCommand, printJson, type CliIo, type GlobalArgs } from '../command.js';
import type { ConfigWarning, DomainConfig, ResolvedConfig } from '../../config/index.js';

interface CreateArgs {
  readonly config?: string;
  readonly settings?: readonly string[];
  readonly dryRun: boolean;
  readonly paused: boolean;
  readonly console: boolean;
  /** -f FILE (xl's --defconfig): the config file, when not given as the first argument. */
  readonly defconfig?: string;
  /** -q: no "Parsing config from" line. */
  readonly quiet: boolean;
  /** -d: the domain's libxl_domain_config JSON on stderr, as xl prints it. */
  readonly debug: boolean;
  /** -F: stay in the foreground, carrying out on_* actions, until the domain is gone. */
  readonly foreground: boolean;
  /** -e: nobody carries out the on_* actions (no monitor). */
  readonly noMonitor: boolean;
}

/** Human-readable dry-run output: one fact per line. */
export function formatDomainConfig(c: DomainConfig): string {
  const lines: [string, string][] = [
    ['name', c.name],
    ['uuid', c.uuid],
    ['type', c.type],
  ];
  if (c.kernel !== undefined) lines.push(['kernel', c.kernel]);
  if (c.ramdisk !== undefined) lines.push(['ramdisk', c.ramdisk]);
  if (c.bootloader !== undefined) lines.push(['bootloader', [c.bootloader, ...c.bootloaderArgs].join(' ')]);
  lines.push(['cmdline', c.cmdline ?? '(none)']);
  lines.push(['memory', `${c.memoryMiB} MiB${c.maxmemMiB !== c.memoryMiB ? ` (maxmem ${c.maxmemMiB} MiB)` : ''}`]);
  lines.push(['vcpus', `${c.vcpus}${c.maxvcpus !== c.vcpus ? ` (maxvcpus ${c.maxvcpus})` : ''}`]);
  if (c.cpus !== undefined) lines.push(['cpus', typeof c.cpus === 'string' ? c.cpus : JSON.stringify(c.cpus)]);
  lines.push(['on_poweroff', c.onPoweroff], ['on_reboot', c.onReboot], ['on_crash', c.onCrash], ['on_watchdog', c.onWatchdog]);
  for (const d of c.disks) {
    const parts = [
      d.target === undefined || d.target === '' ? '(empty)' : d.target,
      d.format,
      d.readwrite ? 'read-write' : 'read-only',
      ...(d.isCdrom ? ['cdrom'] : []),
      ...(d.backendType !== 'unknown' ? [`backendtype ${d.backendType}`] : []),
      ...(d.script !== undefined ? [`script ${d.script}`] : []),
      `devid ${d.devid}`,
    ];
    lines.push([`disk ${d.vdev}`, parts.join(', ')]);
  }
  for (const v of c.vifs) {
    const parts = [
      `bridge ${v.bridge}`,
      `mac ${v.mac ?? '00:16:3e:xx:xx:xx (random)'}`,
      `script ${v.script}`,
      ...(v.ip !== undefined ? [`ip ${v.ip}`] : []),
      ...(v.vifname !== undefined ? [`vifname ${v.vifname}`] : []),
      ...(v.backend !== undefined ? [`backend ${v.backend}`] : []),
      ...(v.rate !== undefined ? [`rate ${v.rate.bytesPerInterval} bytes per ${v.rate.intervalUsecs} us`] : []),
      ...(v.mtu !== 1500 ? [`mtu ${v.mtu}`] : []),
    ];
    lines.push([`vif ${v.devid}`, parts.join(', ')]);
  }
  const width = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${k.padEnd(width)}  ${v}\n`).join('');
}

/** The create plan for people: one step a line (devices with what they will be set up from). */
async function formatPlan(c: DomainConfig, paused: boolean): Promise<string> {
  if (c.kernel === undefined) return '';
  const { planCreate, OperationError } = await import('../../operations/index.js');
  let plan;
  try {
    plan = planCreate({ ...c, kernel: c.kernel }, { paused, saveConfig: c });
  } catch (error) {
    if (error instanceof OperationError) return `plan        (none: ${error.message})\n`;
    throw error;
  }
  const what = (op: (typeof plan)[number]): string => {
    switch (op.kind) {
      case 'addDisk': return `${op.field} ${op.disk.vdev} (vbd ${op.disk.devid}) from ${op.disk.target ?? '(empty)'}, ${op.disk.readwrite ? 'read-write' : 'read-only'}`;
      case 'addVif': return `${op.field} mac ${op.mac} on bridge ${op.vif.bridge}`;
      case 'checkDevices': case 'waitDevices': return op.devices.join(', ');
      case 'loadKernel': return op.kernel;
      case 'saveDomainConfig': return `userdata-d.<domid>.${op.uuid}.libxl-json (xl list -l)`;
      default: return '';
    }
  };
  return `plan\n${plan.map((op, i) => `  ${String(i + 1).padStart(2)}  ${op.kind}${what(op) ? `  ${what(op)}` : ''}\n`).join('')}`;
}

function printWarnings(io: CliIo, warnings: readonly ConfigWarning[]): void {
  for (const w of warnings) io.err(`txl: warning: ${w.where}: ${w.message}\n`);
}

/**
 * Creates and boots the domain. This is the one place where `txl create` hands a resolved config to the
 * create plan and its executor (toolstack/operations).
 */
async function bootDomain(resolved: ResolvedConfig, args: CreateArgs, io: CliIo): Promise<number> {
  const { TxlError } = await import('../../../common/errors.js');
  const { withCliContext } = await import('../table.js');
  const { planCreate, executeCreate, injectedFailureHook, destroyDomainFully } = await import('../../operations/index.js');
  const { XenstoreClient } = await import('../../../xenstore/index.js');
  const config = resolved.config;
  if (config.kernel === undefined) {
    throw new TxlError('TXL_CREATE_UNAVAILABLE', `${config.name}: booting through a bootloader (${config.bootloader ?? 'none'}) is not implemented yet in this build of txl`, {
      hint: 'set kernel= (and ramdisk=) in the configuration to boot the guest directly',
    });
  }
  const kernel = config.kernel;
  const { defaultHotplugHost } = await import('../../devices/index.js');
  const hotplug = await defaultHotplugHost();
  // With -c the domain stays paused until the console is attached, so no early output is lost
  // (xl create -c waits for xenconsole's start notification the same way).
  return withCliContext(async (ctx) => {
    // The config is saved where libxl keeps it, so `xl list -l` and `txl list -l` show the guest.
    const saveConfig = ctx.userdataDir !== undefined ? config : undefined;
    const plan = planCreate({ ...config, kernel }, { paused: args.paused || args.console, saveConfig });
    const store = await ctx.store();
    if (!(store instanceof XenstoreClient)) {
      throw new TxlError('TXL_CREATE_UNAVAILABLE', 'txl create needs xenstored (the simulator state file cannot hold a domain\'s xenstore tree)');
    }
    // What the create, a restart's re-create and the destroys all run against.
    const deps = { hypervisor: ctx.hv, xenstore: store, hotplug, userdataDir: ctx.userdataDir };
    // Test hook: TXL_INJECT_FAILURE=<step>[:start|done] fails that step (toolstack/operations/inject.ts).
    const onStep = injectedFailureHook(process.env, plan);
    const result = await executeCreate(plan, { ...deps, ...(onStep ? { onStep } : {}) });
    // The caller passes the full yargs arguments; --json is a global option.
    if ((args as CreateArgs & { json?: boolean }).json) printJson(io, result);
    // What the host monitor needs to carry out on_* for a domain (toolstack/lifecycle/README.md).
    const { registerWithMonitor } = await import('../../lifecycle/index.js');
    const handOver = async (domid: number): Promise<void> => {
      // A monitor process cannot see the simulator's domains (they live in this process or its state file).
      if (ctx.hv.backend === 'simulator') return;
      const record = {
        domid, name: config.name, config: { ...config, kernel } as unknown as Record<string, unknown>,
        actions: { onPoweroff: config.onPoweroff, onReboot: config.onReboot, onCrash: config.onCrash, onWatchdog: config.onWatchdog },
      };
      await registerWithMonitor(record).catch((error: unknown) => {
        const hint = error instanceof TxlError && error.hint ? ` (${error.hint})` : '';
        io.err(`txl: warning: ${error instanceof Error ? error.message : String(error)}${hint}\n`);
      });
    };
    const destroy = (domid: number): Promise<void> => destroyDomainFully({ ...deps, store }, domid);
    const recreate = async (): Promise<number> => (await executeCreate(planCreate({ ...config, kernel }, { paused: false, saveConfig }), deps)).domid;
    const actions = { onPoweroff: config.onPoweroff, onReboot: config.onReboot, onCrash: config.onCrash, onWatchdog: config.onWatchdog };
    // xl forks its per-domain monitor here; txl hands the domain to the one host monitor, or with -F
    // looks after it in this process as `xl create -F` does, or with -e leaves it to nobody.
    if (!args.console) {
      if (args.noMonitor) return 0;
      if (!args.foreground) {
        await handOver(result.domid);
        return 0;
      }
      const { superviseDomain, asLifecycleStore } = await import('../../lifecycle/index.js');
      io.err(`Waiting for domain ${config.name} (domid ${result.domid}) to die [pid ${process.pid}]\n`);
      await superviseDomain({ hv: ctx.hv, store: asLifecycleStore(store), destroy, log: (line) => io.err(`${line}\n`) },
        { domid: result.domid, name: config.name, actions, recreate });
      return 0;
    }
    const { openConsole } = await import('../../console/index.js');
    const { DomainMonitor, asLifecycleStore } = await import('../../lifecycle/index.js');
    const { consoleOutput } = await import('./console.js');
    const session = await openConsole({ store: store as unknown as import('../../console/index.js').ConsoleStore, domid: result.domid });
    // While attached, this process carries out on_poweroff/on_reboot/on_crash as xl's monitor does: a
    // guest that powers off with on_poweroff="destroy" is destroyed, which ends the console session.
    // Its destroys also remove the guest's devices (loop devices, bridge ports).
    let restarted: () => void = () => undefined;
    const restart = new Promise<void>((resolve) => (restarted = resolve));
    const monitor = new DomainMonitor({
      hv: ctx.hv, store: asLifecycleStore(store),
      // The guest has shut down: let its last console lines through (xenconsoled drains the ring on
      // its own schedule) before the domain and its console go away.
      destroy: async (domid) => {
        if (domid === result.domid) await session.settled(1000, 5000);
        await destroy(domid);
      },
      onEvent: (event) => {
        if (event.type === 'restarted') restarted();
      },
    });
    monitor.add({ domid: result.domid, name: config.name, actions, recreate });
    try {
      if (!args.paused) await ctx.hv.unpause(result.domid);
      const end = await session.relay({ input: io.stdin as NodeJS.ReadStream, output: await consoleOutput(io) });
      // The domain is gone: let the monitor finish its action (destroy, or restart under the same name).
      if (end === 'gone') await Promise.race([monitor.idle(), restart]);
      // Detached (Ctrl-]) or restarted: the host monitor looks after the guest from now on (this
      // process's monitor stops first, so only one carries out the next action).
      const left = [...monitor.watched.keys()];
      await monitor.stop();
      for (const domid of left) await handOver(domid);
    } finally {
      await session.close();
      await monitor.stop();
    }
    return 0;
  });
}

/** `txl create` */
export const createCommand = defineCommand<CreateArgs>({
  command: 'create [config] [settings..]',
  describe: 'Create a domain from an xl.cfg file (KEY=VALUE settings override the file, as with xl)',
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs
      .positional('config', { type: 'string', demandOption: true, describe: 'xl.cfg file' })
      .positional('settings', { type: 'string', array: true, describe: 'KEY=VALUE xl.cfg statements, e.g. memory=512 \'name="web2"\'' })
      .option('dry-run', { alias: 'n', type: 'boolean', default: false, describe: 'Print the resolved configuration and do not create anything' })
      .option('paused', { alias: 'p', type: 'boolean', default: false, describe: 'Leave the domain paused after creating it' })
      .option('console', { alias: 'c', type: 'boolean', default: false, describe: 'Attach to the console after creating the domain (Ctrl-] detaches)' })
      .option('defconfig', { alias: 'f', type: 'string', requiresArg: true, describe: 'The xl.cfg file (instead of the first argument), as xl create -f' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Do not print "Parsing config from FILE"' })
      .option('debug', { alias: 'd', type: 'boolean', default: false, describe: 'Print the domain configuration (libxl JSON, as xl -d) on stderr' })
      .option('foreground', { alias: 'F', type: 'boolean', default: false, describe: 'Stay in the foreground until the domain is gone, carrying out on_poweroff/on_reboot/on_crash' })
      .option('no-monitor', { alias: 'e', type: 'boolean', default: false, describe: 'Do not carry out on_poweroff/on_reboot/on_crash (no monitor looks after the domain)' })
      .parserConfiguration({ 'parse-positional-numbers': false }) as unknown as Argv<CreateArgs>,
  examples: [
    ['txl create --dry-run ubuntu.cfg', 'show the configuration xl would build from ubuntu.cfg'],
    ['txl create -n ubuntu.cfg memory=256 \'name="ubuntu2"\'', 'the same with two settings overridden'],
    ['txl create -c ubuntu.cfg', 'boot the guest and attach to its console'],
  ],
  run: async (args, io) => {
    const { readXlCfgFile, resolveDomainConfig } = await import('../../config/index.js');
    const { TxlError } = await import('../../../common/errors.js');
    // As xl (main_create): an argument without '=' is the file, wherever it is, unless -f named it;
    // every other argument is a KEY=VALUE setting.
    const words = [...(args.config !== undefined ? [String(args.config)] : []), ...(args.settings ?? []).map(String)];
    const fileAt = args.defconfig === undefined ? words.findIndex((w) => !w.includes('=')) : -1;
    const file = args.defconfig ?? (fileAt >= 0 ? words.splice(fileAt, 1)[0] : undefined);
    if (file === undefined) {
      throw new TxlError('TXL_USAGE', 'txl create needs a config file: txl create FILE [KEY=VALUE...] or txl create -f FILE [KEY=VALUE...]', { exitCode: 2 });
    }
    const settings = words;
    const notSettings = settings.filter((s) => !s.includes('='));
    if (notSettings.length) {
      throw new TxlError('TXL_USAGE', `'${notSettings[0]}' is not a KEY=VALUE setting: txl create takes one config file and then KEY=VALUE settings`, { exitCode: 2 });
    }
    if (args.foreground && args.console) throw new TxlError('TXL_USAGE', '-F and -c cannot be used together: with -c txl already stays attached until the domain is gone', { exitCode: 2 });
    if (!args.quiet) io.err(`Parsing config from ${file}\n`);
    // xl appends the settings to the file's text before parsing (so they also see a file's last line).
    const cfg = await readXlCfgFile(file, { overrides: settings });
    const resolved = resolveDomainConfig(cfg);
    printWarnings(io, resolved.warnings);
    if (args.debug && !args.dryRun) {
      // xl -d prints libxl_domain_config_to_json of the parsed config, before any MAC is chosen.
      const { formatYajl, libxlDomainConfig } = await import('../../config/libxl-json.js');
      io.err(formatYajl(libxlDomainConfig(resolved.config)));
    }
    if (!args.dryRun) return bootDomain(resolved, args, io);
    if (args.json) printJson(io, resolved.config);
    else io.out(formatDomainConfig(resolved.config) + (await formatPlan(resolved.config, args.paused || args.console)));
    return 0;
  },
});
