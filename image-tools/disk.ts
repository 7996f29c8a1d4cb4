// Sparse raw disk images: create (ftruncate + optional GPT or MBR + mke2fs at the partition's offset, no
// mount), resize (grow the file, the partition table and the filesystem), and the shared "write under a
// temporary name, then rename" helper.
import { randomUUID } from 'node:crypto';
import { existsSync, openSync, closeSync, ftruncateSync, writeSync, readSync, statSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ImageError } from './errors.js';
import { encodeGpt, GPT_ARRAY_SECTORS, GPT_HEAD_BYTES, GPT_TYPE_LINUX_FS, GptFormatError, gptLayout, MBR_TYPE_GPT_PROTECTIVE, parseGpt, singlePartitionGpt, type Gpt } from './gpt.js';
import { encodeMbr, FIRST_PARTITION_LBA, MBR_TYPE_LINUX, parseMbr, SECTOR, writeEntry } from './mbr.js';
import type { CommandRunner, RunResult } from './runner.js';
import { formatSize } from './size.js';

/** Filesystems txl makes (the ext family: mke2fs -d fills them without mounting, debugfs reads them). */
export const FILESYSTEMS = ['ext4', 'ext3', 'ext2'] as const;
export type Filesystem = (typeof FILESYSTEMS)[number];

/** Smallest image txl makes: ext4 with a journal needs a few MiB; 16 MiB leaves room for the 1 MiB gap. */
export const MIN_IMAGE_BYTES = 16 * 1024 * 1024;

/** Byte offset of the filesystem in a partitioned image made by txl. */
export const PARTITION_OFFSET = FIRST_PARTITION_LBA * SECTOR;

/** Partition tables txl writes: GPT (the default) or a DOS MBR (for old bootloaders such as pygrub of Xen < 4.5). */
export const PARTITION_TABLES = ['gpt', 'mbr'] as const;
export type PartitionTable = (typeof PARTITION_TABLES)[number];

/** Where the filesystem lies in an image of `sizeBytes`: the whole disk, or txl's one partition of `table`. */
export function filesystemExtent(sizeBytes: number, table: PartitionTable | undefined): { offset: number; bytes: number } {
  if (table === undefined) return { offset: 0, bytes: sizeBytes };
  if (table === 'mbr') return { offset: PARTITION_OFFSET, bytes: sizeBytes - PARTITION_OFFSET };
  const l = gptLayout(Math.floor(sizeBytes / SECTOR));
  return { offset: l.firstLba * SECTOR, bytes: (l.lastLba - l.firstLba + 1) * SECTOR };
}

/** The table a spec asks for (undefined: a whole-disk filesystem). */
export function tableOf(spec: { readonly partitioned: boolean; readonly partitionTable?: PartitionTable | undefined }): PartitionTable | undefined {
  return spec.partitioned ? (spec.partitionTable ?? 'gpt') : undefined;
}

/** What `txl image create` makes. */
export interface CreateImageSpec {
  readonly path: string;
  readonly sizeBytes: number;
  readonly filesystem: Filesystem;
  readonly partitioned: boolean;
  /** Table of a partitioned image (default gpt). */
  readonly partitionTable?: PartitionTable | undefined;
  readonly label?: string;
  /** Filesystem UUID (also the directory hash seed: same inputs, same bytes). Random when absent. */
  readonly uuid?: string;
  /** Fill the filesystem from this directory (mke2fs -d). */
  readonly fromDirectory?: string;
  /** Replace an existing file at `path`. */
  readonly force?: boolean;
  /**
   * Timestamp for the filesystem's own times (reproducible builds): passed as SOURCE_DATE_EPOCH (honoured
   * by e2fsprogs >= 1.47.1) and E2FSPROGS_FAKE_TIME (superblock times in older ones, e.g. bookworm's 1.47.0).
   */
  readonly sourceDateEpoch?: number;
}

/** The mke2fs command line for a spec writing into `target` (plain data, shown by --dry-run). */
export function mke2fsArgv(spec: CreateImageSpec, target: string): string[] {
  const extended: string[] = [];
  const uuid = spec.uuid;
  if (uuid) extended.push(`hash_seed=${uuid}`);
  // root_owner: the root directory belongs to root even when a non-root user builds the image.
  extended.push('root_owner=0:0');
  const extent = filesystemExtent(spec.sizeBytes, tableOf(spec));
  if (extent.offset) extended.push(`offset=${extent.offset}`);
  const argv = ['mke2fs', '-q', '-F', '-t', spec.filesystem, '-E', extended.join(',')];
  if (spec.label) argv.push('-L', spec.label);
  if (uuid) argv.push('-U', uuid);
  if (spec.fromDirectory) argv.push('-d', spec.fromDirectory);
  argv.push(target);
  // With an offset mke2fs would size the filesystem to the whole file (over the backup GPT): give the partition's size.
  if (extent.offset) argv.push(`${Math.floor(extent.bytes / 1024)}k`);
  return argv;
}

/** The temporary name an output is written under before the final rename (same folder: rename is atomic). */
export function temporaryName(path: string): string {
  return join(dirname(path), `.${basename(path)}.txl-${process.pid}.tmp`);
}

function toolFailed(what: string, argv: readonly string[], r: RunResult): ImageError {
  if (r.status === 127) {
    return new ImageError('TXL_IMG_TOOL', `${argv[0]} is not installed (needed to ${what})`, {
      hint: 'apt-get install e2fsprogs mmdebstrap',
      details: { command: argv.join(' ') },
    });
  }
  return new ImageError('TXL_IMG_TOOL', `${argv[0]} failed (status ${r.status}) while trying to ${what}: ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join('\n')}`, {
    details: { command: argv.join(' '), status: r.status },
  });
}

/** Runs a command and throws TXL_IMG_TOOL when it fails; `ok` lists the statuses that count as success. */
export async function runChecked(runner: CommandRunner, what: string, argv: readonly string[], ok: readonly number[] = [0], env?: Readonly<Record<string, string>>): Promise<RunResult> {
  const r = await runner.run(argv, env ? { env } : {});
  if (!ok.includes(r.status)) throw toolFailed(what, argv, r);
  return r;
}

/** Inode numbers in use by files (the root, 2, and everything from the first non-reserved inode), from `dumpe2fs` output. */
export function usedInodes(dumpe2fs: string): number[] {
  const perGroup = Number(/^Inodes per group:\s+(\d+)/m.exec(dumpe2fs)?.[1]);
  const first = Number(/^First inode:\s+(\d+)/m.exec(dumpe2fs)?.[1] ?? 11);
  if (!perGroup) throw new ImageError('TXL_IMG_FS', 'dumpe2fs printed no "Inodes per group" line', { details: { output: dumpe2fs.slice(0, 500) } });
  const used: number[] = [2];
  let group = -1;
  for (const line of dumpe2fs.split('\n')) {
    const g = /^Group (\d+):/.exec(line);
    if (g) group = Number(g[1]);
    const f = /^\s+Free inodes:[ \t]*(.*)$/.exec(line);
    if (!f || group < 0) continue;
    const lo = group * perGroup + 1;
    const hi = lo + perGroup - 1;
    const free = f[1]!.split(',').map((r) => r.trim()).filter(Boolean).map((r) => r.split('-').map(Number));
    const isFree = (n: number): boolean => free.some(([a, b]) => n >= a! && n <= (b ?? a!));
    for (let n = Math.max(lo, first); n <= hi; n++) if (!isFree(n)) used.push(n);
  }
  return used;
}

/**
 * Sets the change and access times of every file in an ext filesystem to `epoch` (with zero nanoseconds).
 * mke2fs -d copies them from the host (e2fsprogs 1.47.0 takes ctime from stat(), which nobody can set),
 * so without this two builds of the same tree differ in every inode. Modification times are the tree's
 * own (clamped to the epoch by the build). Runs one debugfs session; returns how many inodes it set.
 */
export async function normalizeInodeTimes(target: string, epoch: number, runner: CommandRunner, scratchDir: string): Promise<number> {
  const env = { E2FSPROGS_FAKE_TIME: String(epoch) };
  const dump = await runChecked(runner, 'list the inodes in use', ['dumpe2fs', target], [0], env);
  const inodes = usedInodes(dump.stdout);
  const script = join(scratchDir, `.txl-times-${process.pid}.debugfs`);
  writeFileSync(script, inodes.map((n) => `sif <${n}> ctime @${epoch}\nsif <${n}> atime @${epoch}\n`).join(''));
  try {
    const r = await runChecked(runner, 'set the inode times', ['debugfs', '-w', '-f', script, target], [0], env);
    // debugfs exits 0 even when a request fails: its errors are on stderr after the version banner.
    const errors = r.stderr.split('\n').filter((l) => l.trim() && !/^debugfs \d/.test(l));
    if (errors.length) throw new ImageError('TXL_IMG_TOOL', `debugfs could not set the inode times of ${target}: ${errors.slice(0, 3).join('; ')}`, { details: { target } });
  } finally {
    rmSync(script, { force: true });
  }
  return inodes.length;
}

/**
 * Writes a sparse file of `sizeBytes` (nothing allocated) and, when `table` is given, its partition table:
 * one Linux partition from 1 MiB. `seed` (the filesystem UUID) fixes the disk and partition identifiers,
 * so the same inputs give the same bytes.
 */
export function writeSparseFile(path: string, sizeBytes: number, table: PartitionTable | undefined, seed: string, name = 'root'): void {
  const fd = openSync(path, 'wx', 0o644);
  try {
    ftruncateSync(fd, sizeBytes);
    if (table === 'mbr') writeSync(fd, encodeMbr(sizeBytes, parseInt(seed.replace(/-/g, '').slice(0, 8), 16) || 1), 0, SECTOR, 0);
    if (table === 'gpt') for (const w of encodeGpt(singlePartitionGpt(sizeBytes / SECTOR, seed, name), sizeBytes / SECTOR)) writeSync(fd, w.bytes, 0, w.bytes.length, w.offset);
  } finally {
    closeSync(fd);
  }
}

function checkTarget(path: string, force: boolean | undefined): void {
  if (existsSync(path) && !force) {
    throw new ImageError('TXL_IMG_EXISTS', `${path} already exists`, { hint: 'choose another name, or pass --force to replace it', details: { path } });
  }
}

/**
 * Creates a sparse raw image with an ext filesystem (and an MBR when `partitioned`), atomically:
 * everything is written under a temporary name that is renamed at the end or removed on failure.
 */
export async function createImage(spec: CreateImageSpec, runner: CommandRunner): Promise<{ path: string; uuid: string }> {
  if (spec.sizeBytes < MIN_IMAGE_BYTES) {
    throw new ImageError('TXL_IMG_SIZE', `size: ${formatSize(spec.sizeBytes)} is too small for an image; at least ${formatSize(MIN_IMAGE_BYTES)}`, {
      details: { sizeBytes: spec.sizeBytes },
    });
  }
  if (spec.sizeBytes % SECTOR !== 0) throw new ImageError('TXL_IMG_SIZE', `size: ${spec.sizeBytes} is not a whole number of 512-byte sectors`);
  checkTarget(spec.path, spec.force);
  const uuid = spec.uuid ?? randomUUID();
  const tmp = temporaryName(spec.path);
  rmSync(tmp, { force: true });
  try {
    writeSparseFile(tmp, spec.sizeBytes, tableOf(spec), uuid, spec.label || 'root');
    const epoch = spec.sourceDateEpoch;
    const env = epoch === undefined ? undefined : { SOURCE_DATE_EPOCH: String(epoch), E2FSPROGS_FAKE_TIME: String(epoch) };
    await runChecked(runner, `make the ${spec.filesystem} filesystem`, mke2fsArgv({ ...spec, uuid }, tmp), [0], env);
    if (spec.fromDirectory && epoch !== undefined) await normalizeInodeTimes(e2fsTarget(tmp, filesystemExtent(spec.sizeBytes, tableOf(spec)).offset), epoch, runner, dirname(tmp));
    renameSync(tmp, spec.path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
  return { path: spec.path, uuid };
}

/** Where an image's filesystem lies, and the table that says so. */
export interface FilesystemLocation {
  /** Byte offset of the filesystem (0: the whole disk). */
  readonly offset: number;
  /** Partition number (the N of xvdaN), undefined for a whole-disk filesystem. */
  readonly partition: number | undefined;
  readonly table: PartitionTable | 'none';
  /** Bytes of the partition (of the file for a whole-disk filesystem). */
  readonly bytes: number;
}

/** GPT partition types that hold a Linux root filesystem: "Linux filesystem data", systemd's "Linux root (x86-64)". */
const GPT_LINUX_TYPES = new Set([GPT_TYPE_LINUX_FS, '4f68bce3-e8cd-4db1-96e7-fbcaf984b709']);

function readHead(path: string): { head: Buffer; size: number } {
  const fd = openSync(path, 'r');
  try {
    const size = statSync(path).size;
    const head = Buffer.alloc(Math.min(GPT_HEAD_BYTES, size));
    readSync(fd, head, 0, head.length, 0);
    return { head, size };
  } finally {
    closeSync(fd);
  }
}

function readGpt(path: string, head: Buffer): Gpt | undefined {
  try {
    return parseGpt(head);
  } catch (error) {
    if (error instanceof GptFormatError) throw new ImageError('TXL_IMG_FS', `${path}: ${error.message}`, { details: { path }, hint: 'check it with sgdisk -v or sfdisk --verify' });
    throw error;
  }
}

/**
 * Where an image's filesystem lies: its first Linux partition under a GPT (protective MBR + "EFI PART")
 * or a DOS MBR, else the whole disk. A GPT without a Linux partition is an error (nothing to open).
 */
export function filesystemOffset(path: string): FilesystemLocation {
  const { head, size } = readHead(path);
  const parts = parseMbr(head.subarray(0, SECTOR));
  if (parts?.some((p) => p.type === MBR_TYPE_GPT_PROTECTIVE)) {
    const gpt = readGpt(path, head);
    if (gpt) {
      const linux = gpt.partitions.find((p) => GPT_LINUX_TYPES.has(p.typeGuid));
      if (!linux) {
        throw new ImageError('TXL_IMG_FS', `${path}: the GPT has no Linux filesystem partition (types: ${gpt.partitions.map((p) => p.typeGuid).join(', ') || 'none'})`, {
          details: { path },
        });
      }
      return { offset: linux.firstLba * SECTOR, partition: linux.index, table: 'gpt', bytes: (linux.lastLba - linux.firstLba + 1) * SECTOR };
    }
  }
  const linux = parts?.find((p) => p.type === MBR_TYPE_LINUX);
  return linux
    ? { offset: linux.startLba * SECTOR, partition: linux.index, table: 'mbr', bytes: linux.sectors * SECTOR }
    : { offset: 0, partition: undefined, table: 'none', bytes: size };
}

/** The name e2fsprogs tools open a filesystem at `offset` inside `path` by (unix_io's "?offset=" option). */
export function e2fsTarget(path: string, offset: number): string {
  return offset === 0 ? path : `${path}?offset=${offset}`;
}

/**
 * Grows an image to `sizeBytes`: the file, the partition table (txl's layouts: the filesystem partition must
 * be the last one; a GPT gets its backup table moved to the new end) and the ext filesystem (e2fsck -f,
 * then resize2fs). Shrinking is refused. On failure the file and its table are put back as they were.
 */
export async function resizeImage(path: string, sizeBytes: number, runner: CommandRunner): Promise<{ oldBytes: number; newBytes: number }> {
  if (!existsSync(path)) throw new ImageError('TXL_IMG_FS', `${path} does not exist`, { details: { path } });
  const oldBytes = statSync(path).size;
  if (sizeBytes < oldBytes) {
    throw new ImageError('TXL_IMG_FS', `${path} is ${formatSize(oldBytes)}; shrinking to ${formatSize(sizeBytes)} is not supported`, {
      hint: 'give a size larger than the current one',
      details: { path, oldBytes, sizeBytes },
    });
  }
  if (sizeBytes === oldBytes) return { oldBytes, newBytes: sizeBytes };
  if (sizeBytes % SECTOR !== 0) throw new ImageError('TXL_IMG_SIZE', `size: ${sizeBytes} is not a whole number of 512-byte sectors`);
  const location = filesystemOffset(path);
  const { offset, partition, table } = location;
  const target = e2fsTarget(path, offset);
  // e2fsck exits 1 when it fixed something: still fine to resize.
  await runChecked(runner, 'check the filesystem before resizing', ['e2fsck', '-f', '-y', target], [0, 1]);

  // Everything the table rewrite touches, to put back on failure: the head and (GPT) the old backup at the end.
  const saved: { offset: number; bytes: Buffer }[] = [];
  const restore = (): void => {
    const back = openSync(path, 'r+');
    try {
      ftruncateSync(back, oldBytes);
      for (const s of saved) writeSync(back, s.bytes, 0, s.bytes.length, s.offset);
    } finally {
      closeSync(back);
    }
  };
  let newFsBytes = sizeBytes;
  let tableWrites: { offset: number; bytes: Buffer }[] = [];
  const fd = openSync(path, 'r+');
  try {
    const keep = (at: number, length: number): Buffer => {
      const b = Buffer.alloc(length);
      readSync(fd, b, 0, length, at);
      saved.push({ offset: at, bytes: b });
      return b;
    };
    if (table === 'mbr') {
      const mbr = Buffer.from(keep(0, SECTOR));
      const parsed = parseMbr(mbr)!;
      const p = parsed.find((q) => q.index === partition)!;
      if (parsed.some((q) => q.startLba > p.startLba)) throw new ImageError('TXL_IMG_FS', `${path}: partition ${partition} is not the last one; cannot grow it`);
      const sectors = Math.min(sizeBytes / SECTOR - p.startLba, 0xffff_ffff);
      ftruncateSync(fd, sizeBytes);
      writeEntry(mbr, { ...p, sectors });
      writeSync(fd, mbr, 0, SECTOR, 0);
      newFsBytes = sectors * SECTOR;
    } else if (table === 'gpt') {
      const head = keep(0, GPT_HEAD_BYTES);
      const gpt = parseGpt(head)!;
      const p = gpt.partitions.find((q) => q.index === partition)!;
      if (gpt.partitions.some((q) => q.firstLba > p.firstLba)) throw new ImageError('TXL_IMG_FS', `${path}: partition ${partition} is not the last one; cannot grow it`);
      // The old backup (entries + header) normally ends the old file; one that does not (a file grown
      // by plain truncate) is blanked wherever its header says it is, when that lies inside the file.
      const oldBackup = (gpt.alternateLba - GPT_ARRAY_SECTORS) * SECTOR;
      const backupBytes = (GPT_ARRAY_SECTORS + 1) * SECTOR;
      const blankOld = oldBackup >= GPT_HEAD_BYTES && oldBackup + backupBytes <= oldBytes;
      if (blankOld) keep(oldBackup, backupBytes);
      const totalSectors = sizeBytes / SECTOR;
      const layout = gptLayout(totalSectors);
      const lastLba = Math.max(p.lastLba, layout.lastLba);
      const grown: Gpt = {
        ...gpt,
        lastUsableLba: layout.lastUsableLba,
        alternateLba: totalSectors - 1,
        partitions: gpt.partitions.map((q) => (q.index === partition ? { ...q, lastLba } : q)),
      };
      ftruncateSync(fd, sizeBytes);
      // The old backup table now lies inside the partition: blank it (tools must not find a stale table).
      if (blankOld) writeSync(fd, Buffer.alloc(backupBytes), 0, backupBytes, oldBackup);
      tableWrites = encodeGpt(grown, totalSectors);
      for (const w of tableWrites) writeSync(fd, w.bytes, 0, w.bytes.length, w.offset);
      newFsBytes = (lastLba - p.firstLba + 1) * SECTOR;
    } else {
      ftruncateSync(fd, sizeBytes);
    }
  } catch (error) {
    closeSync(fd);
    restore();
    throw error;
  }
  closeSync(fd);
  try {
    const argv = ['resize2fs', target];
    if (offset !== 0) argv.push(`${Math.floor(newFsBytes / 1024)}k`);
    await runChecked(runner, 'grow the filesystem', argv);
    // resize2fs sets a regular file's length to the filesystem's end without counting the offset
    // (e2fsprogs 1.47.0), which cuts off the backup GPT: put the length and the table back.
    if (statSync(path).size !== sizeBytes) {
      const again = openSync(path, 'r+');
      try {
        ftruncateSync(again, sizeBytes);
        for (const w of tableWrites) writeSync(again, w.bytes, 0, w.bytes.length, w.offset);
      } finally {
        closeSync(again);
      }
    }
  } catch (error) {
    restore();
    throw error;
  }
  return { oldBytes, newBytes: sizeBytes };
}
