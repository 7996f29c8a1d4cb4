// Sparse raw disk images: create (ftruncate + optional MBR + mke2fs, no mount), resize (grow the file,
// the partition and the filesystem), and the shared "write under a temporary name, then rename" helper.
import { randomUUID } from 'node:crypto';
import { existsSync, openSync, closeSync, ftruncateSync, writeSync, readSync, statSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ImageError } from './errors.js';
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

/** What `txl image create` makes. */
export interface CreateImageSpec {
  readonly path: string;
  readonly sizeBytes: number;
  readonly filesystem: Filesystem;
  readonly partitioned: boolean;
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
  if (spec.partitioned) extended.push(`offset=${PARTITION_OFFSET}`);
  const argv = ['mke2fs', '-q', '-F', '-t', spec.filesystem, '-E', extended.join(',')];
  if (spec.label) argv.push('-L', spec.label);
  if (uuid) argv.push('-U', uuid);
  if (spec.fromDirectory) argv.push('-d', spec.fromDirectory);
  argv.push(target);
  // With an offset mke2fs would size the filesystem to the whole file: give the partition's size.
  if (spec.partitioned) argv.push(`${(spec.sizeBytes - PARTITION_OFFSET) / 1024}k`);
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

/** Writes a sparse file of `sizeBytes` (nothing allocated) and, when asked, its MBR. */
export function writeSparseFile(path: string, sizeBytes: number, partitioned: boolean, signature: number): void {
  const fd = openSync(path, 'wx', 0o644);
  try {
    ftruncateSync(fd, sizeBytes);
    if (partitioned) writeSync(fd, encodeMbr(sizeBytes, signature), 0, SECTOR, 0);
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
    writeSparseFile(tmp, spec.sizeBytes, spec.partitioned, parseInt(uuid.replace(/-/g, '').slice(0, 8), 16));
    const epoch = spec.sourceDateEpoch;
    const env = epoch === undefined ? undefined : { SOURCE_DATE_EPOCH: String(epoch), E2FSPROGS_FAKE_TIME: String(epoch) };
    await runChecked(runner, `make the ${spec.filesystem} filesystem`, mke2fsArgv({ ...spec, uuid }, tmp), [0], env);
    renameSync(tmp, spec.path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
  return { path: spec.path, uuid };
}

/** Where an image's filesystem starts: 0 for a whole-disk filesystem, else its first Linux partition. */
export function filesystemOffset(path: string): { offset: number; partition: number | undefined } {
  const fd = openSync(path, 'r');
  const sector0 = Buffer.alloc(SECTOR);
  try {
    readSync(fd, sector0, 0, SECTOR, 0);
  } finally {
    closeSync(fd);
  }
  const parts = parseMbr(sector0);
  const linux = parts?.find((p) => p.type === MBR_TYPE_LINUX);
  return linux ? { offset: linux.startLba * SECTOR, partition: linux.index } : { offset: 0, partition: undefined };
}

/** The name e2fsprogs tools open a filesystem at `offset` inside `path` by (unix_io's "?offset=" option). */
export function e2fsTarget(path: string, offset: number): string {
  return offset === 0 ? path : `${path}?offset=${offset}`;
}

/**
 * Grows an image to `sizeBytes`: the file, the partition (when the image has txl's MBR layout, the
 * last partition must be the filesystem) and the ext filesystem (e2fsck -f, then resize2fs).
 * Shrinking is refused. On failure the file is truncated back to its old size.
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
  const { offset, partition } = filesystemOffset(path);
  const target = e2fsTarget(path, offset);
  // e2fsck exits 1 when it fixed something: still fine to resize.
  await runChecked(runner, 'check the filesystem before resizing', ['e2fsck', '-f', '-y', target], [0, 1]);
  const fd = openSync(path, 'r+');
  let oldMbr: Buffer | undefined;
  try {
    ftruncateSync(fd, sizeBytes);
    if (partition !== undefined) {
      oldMbr = Buffer.alloc(SECTOR);
      readSync(fd, oldMbr, 0, SECTOR, 0);
      const mbr = Buffer.from(oldMbr);
      const p = parseMbr(mbr)!.find((q) => q.index === partition)!;
      const later = parseMbr(mbr)!.some((q) => q.startLba > p.startLba);
      if (later) throw new ImageError('TXL_IMG_FS', `${path}: partition ${partition} is not the last one; cannot grow it`);
      writeEntry(mbr, { ...p, sectors: Math.min(sizeBytes / SECTOR - p.startLba, 0xffff_ffff) });
      writeSync(fd, mbr, 0, SECTOR, 0);
    }
  } catch (error) {
    ftruncateSync(fd, oldBytes);
    closeSync(fd);
    throw error;
  }
  closeSync(fd);
  try {
    const argv = ['resize2fs', target];
    if (offset !== 0) argv.push(`${(sizeBytes - offset) / 1024}k`);
    await runChecked(runner, 'grow the filesystem', argv);
  } catch (error) {
    const back = openSync(path, 'r+');
    if (oldMbr) writeSync(back, oldMbr, 0, SECTOR, 0);
    ftruncateSync(back, oldBytes);
    closeSync(back);
    throw error;
  }
  return { oldBytes, newBytes: sizeBytes };
}
