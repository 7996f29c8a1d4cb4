import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createImage, mke2fsArgv, PARTITION_OFFSET, resizeImage, filesystemOffset, usedInodes } from './disk.js';
import { SpawnRunner } from './runner.js';
import { RecordingRunner } from './testing/recording-runner.js';

const dir = mkdtempSync(join(tmpdir(), 'txl-disk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const runner = new SpawnRunner();

async function stats(target: string): Promise<Record<string, string>> {
  const r = await runner.run(['dumpe2fs', '-h', target]);
  expect(r.status).toBe(0);
  return Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')).trim(), l.slice(l.indexOf(':') + 1).trim()]));
}

describe('createImage', () => {
  it('makes a sparse ext4 image of the asked size with almost nothing allocated', async () => {
    const path = join(dir, 'plain.img');
    const { uuid } = await createImage({ path, sizeBytes: 2 * 1024 ** 3, filesystem: 'ext4', partitioned: false, label: 'root' }, runner);
    const st = statSync(path);
    expect(st.size).toBe(2 * 1024 ** 3);
    expect(st.blocks * 512).toBeLessThan(80 * 1024 * 1024); // metadata only (ext4 journal included)
    const s = await stats(path);
    expect(s['Filesystem UUID']).toBe(uuid);
    expect(s['Filesystem volume name']).toBe('root');
    expect(Number(s['Block count']) * Number(s['Block size'])).toBe(2 * 1024 ** 3);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('makes a partitioned ext3 image (MBR) with the filesystem at 1 MiB', async () => {
    const path = join(dir, 'part.img');
    await createImage({ path, sizeBytes: 64 * 1024 * 1024, filesystem: 'ext3', partitioned: true, partitionTable: 'mbr' }, runner);
    expect(filesystemOffset(path)).toEqual({ offset: PARTITION_OFFSET, partition: 1, table: 'mbr', bytes: 63 * 1024 * 1024 });
    const s = await stats(`${path}?offset=${PARTITION_OFFSET}`);
    expect(s['Filesystem features']).toContain('has_journal');
    expect(s['Filesystem features']).not.toContain('extent'); // ext3, not ext4
    expect(Number(s['Block count']) * Number(s['Block size'])).toBe(63 * 1024 * 1024);
  });

  it('refuses to overwrite, and leaves nothing behind when mke2fs fails', async () => {
    const path = join(dir, 'exists.img');
    writeFileSync(path, 'x');
    await expect(createImage({ path, sizeBytes: 32 * 1024 * 1024, filesystem: 'ext4', partitioned: false }, runner)).rejects.toThrow(/already exists/);
    const failing = new RecordingRunner().on('mke2fs', () => ({ status: 1, stderr: 'mke2fs: boom' }));
    const other = join(dir, 'fails.img');
    await expect(createImage({ path: other, sizeBytes: 32 * 1024 * 1024, filesystem: 'ext4', partitioned: false }, failing)).rejects.toThrow(/mke2fs failed .*boom/);
    expect(readdirSync(dir).filter((f) => f.startsWith('.fails') || f === 'fails.img')).toEqual([]);
  });

  it('refuses sizes below the minimum', async () => {
    await expect(createImage({ path: join(dir, 'tiny.img'), sizeBytes: 1024 * 1024, filesystem: 'ext4', partitioned: false }, runner)).rejects.toThrow(/too small/);
  });

  it('builds the mke2fs command line as data', () => {
    expect(mke2fsArgv({ path: 'a', sizeBytes: 4 * 1024 ** 3, filesystem: 'ext4', partitioned: true, partitionTable: 'mbr', uuid: 'u', label: 'L', fromDirectory: '/r' }, 't')).toEqual([
      'mke2fs', '-q', '-F', '-t', 'ext4', '-E', 'hash_seed=u,root_owner=0:0,offset=1048576', '-L', 'L', '-U', 'u', '-d', '/r', 't', `${(4 * 1024 ** 3 - 1048576) / 1024}k`,
    ]);
    // GPT (the default table): the filesystem stops at the last whole MiB before the backup table.
    expect(mke2fsArgv({ path: 'a', sizeBytes: 4 * 1024 ** 3, filesystem: 'ext4', partitioned: true, uuid: 'u' }, 't').slice(-2)).toEqual(['t', `${(4 * 1024 - 2) * 1024}k`]);
    expect(mke2fsArgv({ path: 'a', sizeBytes: 4 * 1024 ** 3, filesystem: 'ext4', partitioned: false, uuid: 'u' }, 't').at(-1)).toBe('t');
  });
});

/** Runs a host tool and returns its stdout; the test fails with its output when it fails. */
async function tool(argv: string[]): Promise<string> {
  const r = await runner.run(argv);
  expect(r.status, `${argv.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout;
}

// GPT images checked by the real tools (util-linux sfdisk and blkid, gdisk's sgdisk, e2fsprogs), not by our parser.
describe('GPT images, checked by sfdisk, sgdisk, blkid and e2fsck', () => {
  it('txl image create --partitioned: a valid GPT with one Linux partition holding the filesystem', async () => {
    const path = join(dir, 'gpt.img');
    const uuid = '0b5e7c1a-2d3f-4a5b-8c6d-7e8f90a1b2c3';
    await createImage({ path, sizeBytes: 64 * 1024 * 1024, filesystem: 'ext4', partitioned: true, label: 'web1', uuid }, runner);
    expect(statSync(path).blocks * 512).toBeLessThan(8 * 1024 * 1024);
    // sgdisk -v checks both headers, their CRCs, the entry arrays and overlaps.
    expect(await tool(['sgdisk', '-v', path])).toMatch(/No problems found/);
    const dump = JSON.parse(await tool(['sfdisk', '--json', path])) as { partitiontable: { label: string; firstlba: number; lastlba: number; partitions: { start: number; size: number; type: string; name: string }[] } };
    expect(dump.partitiontable.label).toBe('gpt');
    expect(dump.partitiontable.lastlba).toBe(64 * 2048 - 34);
    expect(dump.partitiontable.partitions).toEqual([expect.objectContaining({ start: 2048, size: 62 * 2048, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', name: 'web1' })]);
    expect(await tool(['sfdisk', '--verify', path])).toContain('No errors detected');
    // blkid finds the table on the disk and the ext4 filesystem (with our UUID and label) at the partition's offset.
    expect(await tool(['blkid', '-p', '-o', 'export', path])).toMatch(/PTTYPE=gpt/);
    const fsid = await tool(['blkid', '-p', '-o', 'export', '-O', String(2048 * 512), path]);
    expect(fsid).toContain(`UUID=${uuid}`);
    expect(fsid).toContain('TYPE=ext4');
    expect(fsid).toContain('LABEL=web1');
    await tool(['e2fsck', '-fn', `${path}?offset=${2048 * 512}`]);
    const s = await stats(`${path}?offset=${2048 * 512}`);
    expect(Number(s['Block count']) * Number(s['Block size'])).toBe(62 * 1024 * 1024);
    expect(filesystemOffset(path)).toEqual({ offset: 2048 * 512, partition: 1, table: 'gpt', bytes: 62 * 1024 * 1024 });
  });

  it('txl image resize: the partition, the backup table and the filesystem move to the new end', async () => {
    const path = join(dir, 'gpt-grow.img');
    await createImage({ path, sizeBytes: 64 * 1024 * 1024, filesystem: 'ext4', partitioned: true }, runner);
    await resizeImage(path, 200 * 1024 * 1024, runner);
    expect(statSync(path).size).toBe(200 * 1024 * 1024);
    expect(await tool(['sgdisk', '-v', path])).toMatch(/No problems found/);
    const dump = JSON.parse(await tool(['sfdisk', '--json', path])) as { partitiontable: { lastlba: number; partitions: { start: number; size: number }[] } };
    expect(dump.partitiontable.lastlba).toBe(200 * 2048 - 34);
    expect(dump.partitiontable.partitions).toEqual([expect.objectContaining({ start: 2048, size: 198 * 2048 })]);
    await tool(['e2fsck', '-fn', `${path}?offset=${2048 * 512}`]);
    const s = await stats(`${path}?offset=${2048 * 512}`);
    expect(Number(s['Block count']) * Number(s['Block size'])).toBe(198 * 1024 * 1024);
    // The old backup header (at 64 MiB - 512) was blanked: no stale "EFI PART" inside the partition.
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(path).subarray(64 * 1024 * 1024 - 512, 64 * 1024 * 1024 - 504).toString('latin1')).not.toBe('EFI PART');
  });

  it('a GPT whose primary header is corrupt is refused with the file named', async () => {
    const path = join(dir, 'gpt-bad.img');
    await createImage({ path, sizeBytes: 32 * 1024 * 1024, filesystem: 'ext4', partitioned: true }, runner);
    const { openSync: open, writeSync: write, closeSync: close } = await import('node:fs');
    const fd = open(path, 'r+');
    write(fd, Buffer.from([0x99]), 0, 1, 512 + 40);
    close(fd);
    expect(() => filesystemOffset(path)).toThrow(/gpt-bad\.img: GPT header CRC does not match/);
    await expect(resizeImage(path, 64 * 1024 * 1024, runner)).rejects.toThrow(/GPT header CRC/);
    expect(statSync(path).size).toBe(32 * 1024 * 1024);
  });

  it('restores the table and the size when resize2fs fails on a GPT image', async () => {
    const path = join(dir, 'gpt-fail.img');
    await createImage({ path, sizeBytes: 32 * 1024 * 1024, filesystem: 'ext4', partitioned: true }, runner);
    const { readFileSync } = await import('node:fs');
    const before = readFileSync(path);
    const failing = new RecordingRunner().on('e2fsck', () => ({ status: 0 })).on('resize2fs', () => ({ status: 1, stderr: 'resize2fs: nope' }));
    await expect(resizeImage(path, 64 * 1024 * 1024, failing)).rejects.toThrow(/resize2fs failed/);
    expect(readFileSync(path).equals(before)).toBe(true);
  });
});

describe('resizeImage', () => {
  it('grows an unpartitioned image and its filesystem', async () => {
    const path = join(dir, 'grow.img');
    await createImage({ path, sizeBytes: 64 * 1024 * 1024, filesystem: 'ext4', partitioned: false }, runner);
    await resizeImage(path, 256 * 1024 * 1024, runner);
    expect(statSync(path).size).toBe(256 * 1024 * 1024);
    const s = await stats(path);
    expect(Number(s['Block count']) * Number(s['Block size'])).toBe(256 * 1024 * 1024);
  });

  it('grows a partitioned image (MBR): partition entry and filesystem', async () => {
    const path = join(dir, 'growp.img');
    await createImage({ path, sizeBytes: 64 * 1024 * 1024, filesystem: 'ext4', partitioned: true, partitionTable: 'mbr' }, runner);
    await resizeImage(path, 128 * 1024 * 1024, runner);
    expect(statSync(path).size).toBe(128 * 1024 * 1024);
    expect(await tool(['sfdisk', '--verify', path])).toContain('No errors detected');
    const s = await stats(`${path}?offset=${PARTITION_OFFSET}`);
    expect(Number(s['Block count']) * Number(s['Block size'])).toBe(127 * 1024 * 1024);
    const fsck = await runner.run(['e2fsck', '-fn', `${path}?offset=${PARTITION_OFFSET}`]);
    expect(fsck.status).toBe(0);
  });

  it('refuses to shrink and restores the size when resize2fs fails', async () => {
    const path = join(dir, 'shrink.img');
    await createImage({ path, sizeBytes: 64 * 1024 * 1024, filesystem: 'ext4', partitioned: false }, runner);
    await expect(resizeImage(path, 32 * 1024 * 1024, runner)).rejects.toThrow(/shrinking .* is not supported/);
    const failing = new RecordingRunner().on('resize2fs', () => ({ status: 1, stderr: 'resize2fs: nope' }));
    await expect(resizeImage(path, 128 * 1024 * 1024, failing)).rejects.toThrow(/resize2fs failed/);
    expect(statSync(path).size).toBe(64 * 1024 * 1024);
  });
});

describe('reproducible images', () => {
  it('same tree, UUID and epoch, built twice at different times: bit-identical images (GPT and filesystem)', async () => {
    const { mkdirSync: mk, utimesSync, chmodSync, readFileSync, symlinkSync } = await import('node:fs');
    const { createHash } = await import('node:crypto');
    const tree = join(dir, 'twice-tree');
    mk(join(tree, 'etc', 'ssh'), { recursive: true });
    for (let i = 0; i < 40; i++) writeFileSync(join(tree, 'etc', `f${i}`), `file ${i}\n`.repeat(i * 50));
    writeFileSync(join(tree, 'etc', 'ssh', 'sshd_config'), 'PermitRootLogin no\n');
    symlinkSync('f1', join(tree, 'etc', 'link'));
    const hashes: string[] = [];
    for (const round of [1, 2]) {
      // What a second build does to the tree: same content and mtimes, new ctimes (chmod) and atimes.
      for (const f of ['etc/f3', 'etc/ssh/sshd_config', 'etc/ssh', 'etc', '.']) {
        chmodSync(join(tree, f), f.includes('f3') || f.endsWith('config') ? 0o644 : 0o755);
        utimesSync(join(tree, f), 1717100000 + round, 1717100000);
      }
      if (round === 2) await new Promise((r) => setTimeout(r, 1100)); // a different second for every host time
      const path = join(dir, `twice${round}.img`);
      await createImage({ path, sizeBytes: 48 * 1024 * 1024, filesystem: 'ext4', partitioned: true, label: 'root', fromDirectory: tree, uuid: '11111111-2222-4333-8444-555555555555', sourceDateEpoch: 1717200000 }, runner);
      hashes.push(createHash('sha256').update(readFileSync(path)).digest('hex'));
      await tool(['e2fsck', '-fn', `${path}?offset=${2048 * 512}`]);
      const st = await runner.run(['debugfs', '-R', 'stat /etc/ssh/sshd_config', `${path}?offset=${2048 * 512}`]);
      expect(st.stdout).toMatch(/ctime: 0x665a6480:00000000/); // 1717200000, no nanoseconds
      expect(st.stdout).toMatch(/atime: 0x665a6480:00000000/);
      expect(st.stdout).toMatch(new RegExp(`mtime: 0x${(1717100000).toString(16)}:00000000`)); // the tree's own
    }
    expect(hashes[1]).toBe(hashes[0]);
  });

  it('finds the inodes in use from dumpe2fs (root, then from the first non-reserved inode)', () => {
    const out = 'Inodes per group:  8\nFirst inode:  11\nGroup 0: (Blocks 1-100)\n  Free inodes: \nGroup 1: (Blocks 101-200) [INODE_UNINIT]\n  Free inodes: 9, 13-14, 16\nGroup 2:\n  Free inodes: 17-24\n';
    expect(usedInodes(out)).toEqual([2, 11, 12, 15]);
    expect(() => usedInodes('nothing')).toThrow(/Inodes per group/);
  });

  it('same tree, UUID and epoch: the superblock times are the epoch', async () => {
    const { mkdirSync: mk, utimesSync } = await import('node:fs');
    const tree = join(dir, 'repro-tree');
    mk(join(tree, 'etc'), { recursive: true });
    writeFileSync(join(tree, 'etc', 'hostname'), 'web1\n');
    utimesSync(join(tree, 'etc', 'hostname'), 1717200000, 1717200000);
    const path = join(dir, 'repro.img');
    await createImage({ path, sizeBytes: 32 * 1024 * 1024, filesystem: 'ext4', partitioned: false, fromDirectory: tree, uuid: '11111111-2222-4333-8444-555555555555', sourceDateEpoch: 1717200000 }, runner);
    const s = await stats(path);
    expect(new Date(s['Filesystem created']!).getTime()).toBe(new Date(1717200000 * 1000).getTime() + new Date(1717200000 * 1000).getTimezoneOffset() * 60_000);
    expect(s['Filesystem UUID']).toBe('11111111-2222-4333-8444-555555555555');
    expect(s['Directory Hash Seed']).toBe('11111111-2222-4333-8444-555555555555');
  });
});
