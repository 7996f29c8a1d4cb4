// `txl readnotes KERNEL`: prints a kernel's Xen ELF notes exactly like Xen's readnotes tool.
import type { Argv } from 'yargs';
import { defineCommand, printJson, type GlobalArgs } from '../command.js';

interface ReadnotesArgs {
  readonly kernel: string;
}

/** `txl readnotes` */
export const readnotesCommand = defineCommand<ReadnotesArgs>({
  command: 'readnotes <kernel>',
  describe: "Print a kernel's Xen ELF notes (like Xen's readnotes; also opens xz/zstd/lz4/... bzImages)",
  builder: (yargs: Argv<GlobalArgs>) =>
    yargs.positional('kernel', { type: 'string', demandOption: true, describe: 'vmlinuz (bzImage) or vmlinux (ELF)' }) as unknown as Argv<ReadnotesArgs>,
  examples: [['txl readnotes /boot/vmlinuz-6.1.0-26-amd64', 'show the notes of Debian\'s kernel']],
  run: async (args, io) => {
    const { readImageFile, loadKernelElf, readnotes, readXenNotes } = await import('../../../domain-builder/index.js');
    const path = String(args.kernel);
    const loaded = await loadKernelElf(await readImageFile(path, 'kernel'), path);
    if (args.json) {
      const notes = readXenNotes(loaded.elf, path);
      const { notes: raw, ...typed } = notes;
      printJson(io, { format: loaded.format, compression: loaded.compression, ...typed, raw: raw.map((n) => ({ type: n.type, desc: Buffer.from(n.desc).toString('hex') })) });
      return 0;
    }
    const out = readnotes(loaded.elf, path);
    io.out(out.stdout);
    if (out.stderr) io.err(out.stderr);
    return 0;
  },
});
