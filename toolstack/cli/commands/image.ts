// `txl image create|resize|build|inspect`: sparse disk images and Debian/Ubuntu domU image builds (image-tools/).
import type { Argv } from 'yargs';
import { defineCommand, defineGroup, printJson, type GlobalArgs } from '../command.js';

interface CreateArgs {
  readonly file: string;
  readonly size: string;
  readonly fs: string;
  readonly partitioned: boolean;
  readonly table?: string;
  readonly label?: string;
  readonly force: boolean;
}

const createCommand = defineCommand<CreateArgs>({
  command: 'create <file>',
  describe: 'Make a sparse raw disk image with an ext filesystem (no mount, no loop device)',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'image file to create' })
      .option('size', { type: 'string', demandOption: true, describe: 'apparent size: 4G, 512M, 10GiB, 2GB...' })
      .option('fs', { type: 'string', choices: ['ext4', 'ext3', 'ext2'], default: 'ext4', describe: 'filesystem' })
      .option('partitioned', { type: 'boolean', default: false, describe: 'a partition table with one Linux partition at 1 MiB (the guest sees xvda1)' })
      .option('table', { type: 'string', choices: ['gpt', 'mbr'], describe: 'partition table of --partitioned (default gpt; mbr for old bootloaders); implies --partitioned' })
      .option('label', { type: 'string', describe: 'filesystem label' })
      .option('force', { type: 'boolean', default: false, describe: 'replace an existing file' }) as unknown as Argv<CreateArgs>,
  examples: [
    ['txl image create web1.img --size 8G', 'an 8 GiB ext4 image that takes a few MiB on disk'],
    ['txl image create web1.img --size 8G --partitioned', 'the same inside partition 1 of a GPT (xvda1)'],
  ],
  run: async (args, io) => {
    const { createImage, parseSize, SpawnRunner } = await import('../../../image-tools/index.js');
    const { statSync } = await import('node:fs');
    const sizeBytes = parseSize(args.size, '--size');
    const partitioned = args.partitioned || args.table !== undefined;
    const r = await createImage(
      {
        path: args.file,
        sizeBytes,
        filesystem: args.fs as 'ext4',
        partitioned,
        partitionTable: (args.table ?? 'gpt') as 'gpt' | 'mbr',
        force: args.force,
        ...(args.label ? { label: args.label } : {}),
      },
      new SpawnRunner(),
    );
    const st = statSync(r.path);
    if (args.json) printJson(io, { path: r.path, uuid: r.uuid, apparentBytes: st.size, allocatedBytes: st.blocks * 512 });
    else io.out(`${r.path}: ${args.fs}${partitioned ? ` in partition 1 (${(args.table ?? 'gpt').toUpperCase()})` : ''}, ${st.size} bytes apparent, ${st.blocks * 512} allocated, UUID ${r.uuid}\n`);
    return 0;
  },
});

interface ResizeArgs {
  readonly file: string;
  readonly size: string;
}

const resizeCommand = defineCommand<ResizeArgs>({
  command: 'resize <file>',
  describe: 'Grow an image file, its partition and its ext filesystem (e2fsck + resize2fs)',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'image file' })
      .option('size', { type: 'string', demandOption: true, describe: 'new size (4G...), or +N to grow by N' }) as unknown as Argv<ResizeArgs>,
  run: async (args, io) => {
    const { resizeImage, parseSize, SpawnRunner } = await import('../../../image-tools/index.js');
    const { statSync } = await import('node:fs');
    const grow = args.size.startsWith('+');
    const bytes = parseSize(grow ? args.size.slice(1) : args.size, '--size');
    const target = grow ? statSync(args.file).size + bytes : bytes;
    const r = await resizeImage(args.file, target, new SpawnRunner());
    if (args.json) printJson(io, r);
    else io.out(`${args.file}: ${r.oldBytes} -> ${r.newBytes} bytes\n`);
    return 0;
  },
});

interface BuildArgs {
  readonly recipe: string;
  readonly output: string;
  readonly dryRun: boolean;
  readonly force: boolean;
  readonly mode?: string;
  readonly cache?: string;
}

const buildCommand = defineCommand<BuildArgs>({
  command: 'build <recipe>',
  describe: 'Build a domU image from a template or a YAML recipe: NAME.img, NAME.cfg, kernel and initrd',
  builder: (y: Argv<GlobalArgs>) =>
    y
      .positional('recipe', { type: 'string', demandOption: true, describe: 'template name (txl template list) or recipe .yaml' })
      .option('output', { alias: 'o', type: 'string', default: '.', describe: 'folder for the outputs' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'print the build plan and stop' })
      .option('force', { type: 'boolean', default: false, describe: 'replace existing outputs' })
      .option('mode', { type: 'string', choices: ['root', 'unshare'], describe: 'mmdebstrap mode (default: root as root, else unshare)' })
      .option('cache', { type: 'string', describe: 'package cache root (default ~/.cache/txl/apt)' }) as unknown as Argv<BuildArgs>,
  examples: [
    ['txl image build debian-bookworm -o /srv/xen', 'Debian 12 domU with the template defaults'],
    ['txl image build web1.yaml --dry-run', 'show what would be done'],
    ['txl image build web1.yaml -vv', 'also show apt, dpkg and maintainer-script output'],
  ],
  run: async (args, io) => {
    const { loadRecipe, planBuild, describePlan, executeBuild, SpawnRunner, formatSize } = await import('../../../image-tools/index.js');
    const loaded = loadRecipe(args.recipe);
    for (const w of loaded.warnings) io.err(`warning: ${w}\n`);
    const plan = planBuild(loaded.recipe, {
      outputDir: args.output,
      source: args.recipe,
      ...(args.mode ? { mode: args.mode as 'root' | 'unshare' } : {}),
      ...(args.cache ? { cacheRoot: args.cache } : {}),
      ...(args.verbose > 1 ? { verboseTools: true } : {}),
    });
    if (args.dryRun) {
      if (args.json) printJson(io, { ...plan, stageFiles: plan.stageFiles.map((f) => ({ path: f.path, mode: f.mode, bytes: f.content.length })) });
      else io.out(describePlan(plan));
      return 0;
    }
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const result = await executeBuild(plan, {
        runner: new SpawnRunner(),
        signal: controller.signal,
        force: args.force,
        allToolLines: args.verbose > 1,
        onProgress: (p) => {
          if (p.detail) {
            if (args.verbose > 0 || /^I: (downloading|extracting|installing|running apt-get update|success)/.test(p.message)) io.err(`    ${p.message}\n`);
          } else io.err(`[${p.stage}] ${p.message}\n`);
        },
      });
      if (args.json) printJson(io, result);
      else {
        io.out(`built ${plan.recipe.name} in ${result.seconds.toFixed(1)} s (kernel ${result.kernelVersion})\n`);
        io.out(`  ${result.outputs.image}: ${formatSize(result.apparentBytes)} apparent, ${formatSize(result.allocatedBytes)} allocated, ${formatSize(result.usedBytes)} installed\n`);
        io.out(`  ${result.outputs.cfg}\n  ${result.outputs.kernel}\n  ${result.outputs.initrd}\n`);
        io.out(`boot it: xl create ${result.outputs.cfg}   (console: xl console ${plan.recipe.name})\n`);
      }
      return 0;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
});

interface InspectArgs {
  readonly image: string;
}

const inspectCommand = defineCommand<InspectArgs>({
  command: 'inspect <image>',
  describe: 'Show what is in a domU image without mounting it (debugfs): distribution, kernels, console, network, fstab',
  builder: (y: Argv<GlobalArgs>) => y.positional('image', { type: 'string', demandOption: true, describe: 'raw image file' }) as unknown as Argv<InspectArgs>,
  run: async (args, io) => {
    const { inspectImage, formatInspection, SpawnRunner } = await import('../../../image-tools/index.js');
    const { parseKernel } = await import('../../../domain-builder/index.js');
    const report = await inspectImage(args.image, {
      runner: new SpawnRunner(),
      // The domain builder's own parser decides whether txl (and Xen) can boot the kernel as PV.
      checkKernel: async (bytes, source) => {
        try {
          const k = await parseKernel(bytes, source);
          return { pv: true, detail: `Xen PV ${k.guestType}, ${k.format}${k.compression !== 'none' ? `/${k.compression}` : ''}` };
        } catch (error) {
          return { pv: false, detail: (error as Error).message };
        }
      },
    });
    if (args.json) printJson(io, report);
    else io.out(formatInspection(report));
    return 0;
  },
});

/** `txl image ...` */
export const imageCommand = defineGroup({
  command: 'image',
  describe: 'Sparse disk images and domU image builds (Debian, Ubuntu)',
  subcommands: [createCommand, resizeCommand, buildCommand, inspectCommand],
});
