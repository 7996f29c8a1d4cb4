// `txl template list|show|new`: the image templates under templates/ and new recipes made from them
// (including Ubuntu -> Debian migration of a template, a recipe or an existing xl domain config).
import type { Argv } from 'yargs';
import { defineCommand, defineGroup, printJson, type GlobalArgs } from '../command.js';

const listCommand = defineCommand<object>({
  command: 'list',
  describe: 'List the image templates',
  run: async (args, io) => {
    const { listTemplates } = await import('../../../image-tools/index.js');
    const all = listTemplates();
    if (args.json) printJson(io, all);
    else for (const t of all) io.out(`${t.name.padEnd(18)} ${t.description}\n`);
    return 0;
  },
});

interface ShowArgs {
  readonly name: string;
}

const showCommand = defineCommand<ShowArgs>({
  command: 'show <name>',
  describe: 'Print a template (its YAML, overlay files and resolved settings)',
  builder: (y: Argv<GlobalArgs>) => y.positional('name', { type: 'string', demandOption: true, describe: 'template name or recipe file' }) as unknown as Argv<ShowArgs>,
  run: async (args, io) => {
    const { loadRecipe, isRecipePath, templateInfo, packagesOf } = await import('../../../image-tools/index.js');
    const { readFileSync, readdirSync } = await import('node:fs');
    const { join, relative } = await import('node:path');
    const loaded = loadRecipe(args.name);
    const r = loaded.recipe;
    if (args.json) {
      printJson(io, { recipe: r, packages: packagesOf(r), warnings: loaded.warnings });
      return 0;
    }
    const file = isRecipePath(args.name) ? args.name : templateInfo(args.name).file;
    io.out(`# ${file}\n${readFileSync(file, 'utf8')}\n`);
    for (const overlay of r.overlays) {
      const files = (readdirSync(overlay, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
        .filter((d) => !d.isDirectory())
        .map((d) => `/${relative(overlay, join(d.parentPath, d.name))}`);
      io.out(`# overlay ${overlay}: ${files.join(', ')}\n`);
    }
    io.out(
      `# resolved: ${r.distribution} ${r.suite} (${r.mirror}), ${r.init}, kernel ${r.kernel.package}, ${r.filesystem} ${r.sizeBytes} bytes${r.partitioned ? ` partitioned (${r.partitionTable})` : ''}, ` +
        `network ${r.network.renderer} ${r.network.interface} ${r.network.dhcp ? 'dhcp' : r.network.address}\n# packages: ${packagesOf(r).join(' ')}\n`,
    );
    for (const w of loaded.warnings) io.err(`warning: ${w}\n`);
    return 0;
  },
});

interface NewArgs {
  readonly name: string;
  readonly from: string;
  readonly debian: boolean;
  readonly suite?: string;
  readonly ubuntuSuite: string;
  readonly output?: string;
  readonly force: boolean;
}

const newCommand = defineCommand<NewArgs>({
  command: 'new <name>',
  describe: 'Write a new recipe NAME.yaml starting from a template; --debian migrates an Ubuntu template, recipe or xl .cfg to Debian',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: 'name of the new recipe (and of its outputs)' })
      .option('from', { type: 'string', demandOption: true, describe: 'template name, recipe .yaml, or an existing domain .cfg (implies --debian)' })
      .option('debian', { type: 'boolean', default: false, describe: 'migrate an Ubuntu source to an equivalent Debian recipe' })
      .option('suite', { type: 'string', choices: ['bookworm', 'trixie'], describe: 'Debian suite for --debian (default: by Ubuntu release)' })
      .option('ubuntu-suite', { type: 'string', default: 'jammy', describe: 'Ubuntu release the .cfg guest runs (with --from X.cfg)' })
      .option('output', { alias: 'o', type: 'string', describe: 'recipe file to write (default NAME.yaml)' })
      .option('force', { type: 'boolean', default: false, describe: 'replace an existing recipe file' }) as unknown as Argv<NewArgs>,
  examples: [
    ['txl template new web1 --from debian-bookworm', 'web1.yaml: a recipe based on the bookworm template'],
    ['txl template new web1 --from ubuntu-lucid --debian', 'the lucid guest as a Debian bookworm recipe'],
    ['txl template new web1 --from /etc/xen/web1.cfg', 'a Debian recipe with the cfg guest\'s name, memory, disk size and network'],
  ],
  run: async (args, io) => {
    const img = await import('../../../image-tools/index.js');
    const { existsSync, statSync, writeFileSync, renameSync, rmSync } = await import('node:fs');
    const out = args.output ?? `${args.name}.yaml`;
    if (existsSync(out) && !args.force) throw new img.ImageError('TXL_IMG_EXISTS', `${out} already exists`, { hint: 'pass --force to replace it, or -o another file' });
    let raw: Record<string, unknown>;
    let notes: import('../../../image-tools/index.js').MigrationNote[] = [];
    const header = [`Recipe ${args.name}, made by txl template new from ${args.from}.`, `Build it: txl image build ${out}   (keys: txl template show debian-bookworm; secrets: prefer root.passwordHash from 'openssl passwd -6')`];
    if (args.from.endsWith('.cfg')) {
      // An existing xl guest: read it with txl's xl.cfg reader, describe it as an Ubuntu recipe, migrate.
      const { readXlCfgFile, resolveDomainConfig } = await import('../../config/index.js');
      const { config } = resolveDomainConfig(await readXlCfgFile(args.from));
      const disk = config.disks[0];
      const target = disk?.target;
      const facts = {
        name: config.name,
        memoryMiB: config.memoryMiB,
        vcpus: config.vcpus,
        cmdline: config.cmdline,
        disk: disk ? { vdev: disk.vdev, sizeBytes: target && existsSync(target) ? statSync(target).size : undefined } : undefined,
        vif: config.vifs[0] ? { bridge: config.vifs[0].bridge, ip: config.vifs[0].ip } : undefined,
      };
      const guest = img.recipeFromXlGuest(facts, args.ubuntuSuite);
      const migrated = img.migrateToDebian(guest.raw, args.suite ? { suite: args.suite as 'bookworm' } : {});
      raw = { ...migrated.raw, name: args.name };
      notes = [...guest.notes, ...migrated.notes];
    } else if (args.debian) {
      const merged = img.loadMergedRecipe(args.from);
      const migrated = img.migrateToDebian(merged.raw, args.suite ? { suite: args.suite as 'bookworm' } : {});
      raw = { ...migrated.raw, name: args.name, hostname: (merged.raw.hostname as string | undefined) ?? args.name };
      notes = migrated.notes;
    } else {
      img.loadRecipe(args.from); // the source must be valid
      raw = img.isRecipePath(args.from) ? { ...img.readRecipeFile(args.from), name: args.name, hostname: args.name } : { template: args.from, name: args.name, hostname: args.name };
    }
    const text = img.newRecipeText(raw, header, notes);
    const tmp = `${out}.txl-${process.pid}.tmp`;
    writeFileSync(tmp, text);
    try {
      const loaded = img.loadRecipe(tmp); // what we write must load
      for (const w of loaded.warnings) io.err(`warning: ${w.replace(tmp, out)}\n`);
      renameSync(tmp, out);
    } catch (error) {
      rmSync(tmp, { force: true });
      throw error;
    }
    if (args.json) printJson(io, { file: out, notes });
    else {
      io.out(`wrote ${out}\n`);
      for (const n of notes) io.out(`  ${n.key}: ${n.from} -> ${n.to} (${n.why})\n`);
    }
    return 0;
  },
});

/** `txl template ...` */
export const templateCommand = defineGroup({
  command: 'template',
  describe: 'Image templates: list, show, and new recipes from them (with Ubuntu -> Debian migration)',
  subcommands: [listCommand, showCommand, newCommand],
});
