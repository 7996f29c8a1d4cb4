import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createImage, mke2fsArgv, PARTITION_OFFSET, resizeImage, filesystemOffset } from './disk.js';
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

  it('makes a partitioned ext3 image with the filesystem at 1 MiB', async () => {
    const path = join(dir, 'part.img');
    await createImage({ path, sizeBytes: 64 * 1024 * 1024, filesystem: 'ext3', partitioned: true }, runner);
    expect(filesystemOffset(path)).toEqual({ offset: PARTITION_OFFSET, partition: 1 });
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
    expect(mke2fsArgv({ path: 'a', sizeBytes: 4 * 1024 ** 3, filesystem: 'ext4', partitioned: true, uuid: 'u', label: 'L', fromDirectory: '/r' }, 't')).toEqual([
      'mke2fs', '-q', '-F', '-t', 'ext4', '-E', 'hash_seed=u,root_owner=0:0,offset=1048576', '-L', 'L', '-U', 'u', '-d', '/r', 't', `${(4 * 1024 ** 3 - 1048576) / 1024}k`,
    ]);
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

  it('grows a partitioned image: partition entry and filesystem', async () => {
    const path = join(dir, 'growp.img');
    await createImage({ path, sizeBytes: 64 * 1024 * 1024, filesystem: 'ext4', partitioned: true }, runner);
    await resizeImage(path, 128 * 1024 * 1024, runner);
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
