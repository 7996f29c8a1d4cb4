// MemoryXenstore semantics that need unprivileged domains (the lab's socket is always privileged):
// permissions, quotas, domains, special watches. Expected behaviour follows C xenstored 4.17.
import { beforeEach, describe, expect, it } from 'vitest';
import { XenstoreClient } from './client.js';
import { XenstoreError, type XsErrno } from './errors.js';
import { MemoryXenstore } from './memory.js';

let store: MemoryXenstore;
let dom0: XenstoreClient;

async function errnoOf(p: Promise<unknown>): Promise<XsErrno> {
  try {
    await p;
  } catch (error) {
    if (error instanceof XenstoreError) return error.errno;
    throw error;
  }
  return 'EIO' as never as XsErrno;
}

/** Introduces `domid` with a libxl-like home directory it owns, and connects as it. */
async function guest(domid: number): Promise<XenstoreClient> {
  await dom0.introduceDomain(domid, 0x1000n + BigInt(domid), 10 + domid);
  await dom0.mkdir(`/local/domain/${domid}`);
  await dom0.setPermissions(`/local/domain/${domid}`, [{ domid, access: 'n' }]);
  return XenstoreClient.overMemory(store, { domid, timeoutMs: 2000 });
}

function events(xs: XenstoreClient, path: string, token: string): { paths: string[]; ready: Promise<void> } {
  const paths: string[] = [];
  const watch = xs.watch(path, token);
  void (async () => {
    try {
      for await (const e of watch) paths.push(e.path);
    } catch {
      // connection closed
    }
  })();
  return { paths, ready: watch.ready };
}

const settle = () => new Promise((r) => setTimeout(r, 10));

beforeEach(async () => {
  store = new MemoryXenstore({ xenDomains: [0, 1, 2, 3] });
  dom0 = XenstoreClient.overMemory(store, { timeoutMs: 2000 });
  await dom0.write('/secret/x', 'hidden');
});

describe('permissions of unprivileged domains', () => {
  it('hides nodes without read access, and their existence', async () => {
    const g = await guest(1);
    expect(await errnoOf(g.read('/secret/x'))).toBe('EACCES');
    expect(await errnoOf(g.read('/secret/missing'))).toBe('EACCES');
    expect(await errnoOf(g.read('/local/domain/1/missing'))).toBe('ENOENT');
    expect(await errnoOf(g.write('/toplevel', 'x'))).toBe('EACCES');
    expect(await errnoOf(g.directory('/'))).toBe('EACCES');
  });

  it('resolves relative paths below its home; nodes it creates are its own', async () => {
    const g = await guest(1);
    await g.write('data/x', 'v');
    expect(await dom0.read('/local/domain/1/data/x')).toBe('v');
    expect(await g.getPermissions('data/x')).toEqual([{ domid: 1, access: 'n' }]);
    await dom0.write('/local/domain/1/by-dom0', '');
    expect(await dom0.getPermissions('/local/domain/1/by-dom0')).toEqual([{ domid: 1, access: 'n' }]);
  });

  it('may change the ACL of its nodes but not their owner', async () => {
    const g = await guest(1);
    await g.write('data/x', 'v');
    expect(await errnoOf(g.setPermissions('data/x', [{ domid: 0, access: 'n' }]))).toBe('EPERM');
    await g.setPermissions('data/x', [{ domid: 1, access: 'n' }, { domid: 2, access: 'r' }]);
    expect(await g.getPermissions('data/x')).toEqual([{ domid: 1, access: 'n' }, { domid: 2, access: 'r' }]);
    const g2 = await guest(2);
    expect(await g2.read('/local/domain/1/data/x')).toBe('v');
    expect(await errnoOf(g2.write('/local/domain/1/data/x', 'w'))).toBe('EACCES');
    expect(await errnoOf(g2.setPermissions('/local/domain/1/data/x', [{ domid: 1, access: 'b' }]))).toBe('EACCES');
  });

  it('follows per-domain entries before the default, and dom0 always has access', async () => {
    await dom0.write('/shared', 'data');
    await dom0.setPermissions('/shared', [{ domid: 0, access: 'b' }, { domid: 1, access: 'n' }, { domid: 2, access: 'r' }]);
    const g1 = await guest(1);
    const g2 = await guest(2);
    const g3 = await guest(3);
    expect(await errnoOf(g1.read('/shared'))).toBe('EACCES');
    expect(await g2.read('/shared')).toBe('data');
    expect(await errnoOf(g2.write('/shared', 'x'))).toBe('EACCES');
    await g3.write('/shared', 'from 3');
    expect(await dom0.read('/shared')).toBe('from 3');
  });

  it('ignores entries naming a domain that is younger than the node (recycled domid)', async () => {
    await dom0.write('/old', 'v');
    await dom0.setPermissions('/old', [{ domid: 0, access: 'n' }, { domid: 2, access: 'r' }]);
    const g2 = await guest(2);
    expect(await g2.read('/old')).toBe('v');
    await g2.close();
    store.destroyXenDomain(2);
    store.createXenDomain(2);
    const again = await guest(2);
    expect(await errnoOf(again.read('/old'))).toBe('EACCES');
  });

  it('refuses privileged operations', async () => {
    const g = await guest(1);
    expect(await errnoOf(g.introduceDomain(3, 1n, 1))).toBe('EACCES');
    expect(await errnoOf(g.releaseDomain(2))).toBe('EACCES');
    expect(await errnoOf(g.isDomainIntroduced(0))).toBe('EACCES');
    expect(await errnoOf(g.control('check'))).toBe('EACCES');
    expect(await g.getDomainPath(4)).toBe('/local/domain/4');
  });

  it('set-target lets a domain act with its target domain\'s rights', async () => {
    const g1 = await guest(1);
    const g2 = await guest(2);
    await g1.write('mine', 'v');
    expect(await errnoOf(g2.read('/local/domain/1/mine'))).toBe('EACCES');
    await dom0.setTarget(2, 1);
    expect(await g2.read('/local/domain/1/mine')).toBe('v');
  });
});

describe('quotas of unprivileged domains', () => {
  beforeEach(async () => {
    store = new MemoryXenstore({ xenDomains: [0, 1], quotas: { nodes: 5, watches: 2, transactions: 1, permissions: 2, nodeSize: 100 } });
    dom0 = XenstoreClient.overMemory(store, { timeoutMs: 2000 });
  });

  it('limits nodes, node size, permissions, watches and transactions; dom0 is exempt', async () => {
    const g = await guest(1);
    for (let i = 0; i < 4; i++) await g.write(`n${i}`, '');
    expect(await errnoOf(g.write('n4', ''))).toBe('ENOSPC');
    await dom0.write('/local/domain/1/by-dom0-for-1', ''); // owned by 1, but dom0 is not checked
    expect(await errnoOf(g.write('n0', 'x'.repeat(100)))).toBe('ENOSPC');
    await dom0.write('/big', 'x'.repeat(1000));
    expect(await errnoOf(g.setPermissions('n0', [{ domid: 1, access: 'n' }, { domid: 0, access: 'r' }, { domid: 0, access: 'b' }]))).toBe('ENOSPC');
    const watches = ['a', 'b', 'c'].map((t) => g.watch('n0', t));
    for (const w of watches) await w.ready;
    expect(await errnoOf(g.watch('n0', 'd').ready)).toBe('E2BIG');
    await g.transactionStart();
    await g.transactionStart();
    expect(await errnoOf(g.transactionStart())).toBe('ENOSPC');
  });
});

describe('domains and special watches', () => {
  it('fires @introduceDomain and @releaseDomain for dom0 and releases the domain\'s nodes', async () => {
    const intro = events(dom0, '@introduceDomain', 'i');
    const rel = events(dom0, '@releaseDomain', 'r');
    const all = events(dom0, '/', 'root');
    await Promise.all([intro.ready, rel.ready, all.ready]);
    const g = await guest(1);
    await g.write('owned/by/guest', 'x');
    expect(await dom0.isDomainIntroduced(1)).toBe(true);
    await dom0.releaseDomain(1);
    await settle();
    expect(intro.paths).toEqual(['@introduceDomain', '@introduceDomain']);
    expect(rel.paths).toEqual(['@releaseDomain', '@releaseDomain']);
    // Special events are "exact": a watch on / does not get them, but sees the released nodes go.
    expect(all.paths).not.toContain('@introduceDomain');
    expect(all.paths).toContain('/local/domain/1');
    expect(await dom0.isDomainIntroduced(1)).toBe(false);
    expect(await dom0.tryRead('/local/domain/1')).toBeUndefined();
    expect(await errnoOf(g.read('owned'))).toBe('ECONNRESET');
    expect(await errnoOf(dom0.releaseDomain(1))).toBe('ENOENT');
  });

  it('shutdown and destruction in Xen fire @releaseDomain', async () => {
    const rel = events(dom0, '@releaseDomain', 'r');
    await rel.ready;
    await guest(2);
    store.shutdownXenDomain(2);
    store.shutdownXenDomain(2);
    await settle();
    expect(rel.paths).toEqual(['@releaseDomain', '@releaseDomain']);
    await dom0.resumeDomain(2);
    store.destroyXenDomain(2);
    await settle();
    expect(rel.paths).toHaveLength(3);
    expect(store.isIntroduced(2)).toBe(false);
  });

  it('special watches reach unprivileged domains only when the special node allows them', async () => {
    const g = await guest(1);
    const intro = events(g, '@introduceDomain', 'gi');
    await intro.ready;
    await dom0.introduceDomain(2, 1n, 3);
    await settle();
    expect(intro.paths).toEqual(['@introduceDomain']);
    await dom0.setPermissions('@introduceDomain', [{ domid: 0, access: 'n' }, { domid: 1, access: 'r' }]);
    await dom0.introduceDomain(3, 1n, 3);
    await settle();
    expect(intro.paths).toEqual(['@introduceDomain', '@introduceDomain']);
  });

  it('watch events need read access to the node or its parent', async () => {
    const g = await guest(1);
    const root = events(g, '/', 'root');
    const home = events(g, 'home', 'home');
    await Promise.all([root.ready, home.ready]);
    await dom0.write('/secret/y', 'no');
    await g.write('home/x', 'yes');
    await settle();
    // One event per write, for the written node only (not for the parents it created).
    expect(root.paths).toEqual(['/', '/local/domain/1/home/x']);
    expect(home.paths).toEqual(['home', 'home/x']);
  });

  it('a reader going away resets the domain connection but not the domain', async () => {
    const g = await guest(1);
    await g.watch('x', 't').ready;
    await g.close();
    expect(store.isIntroduced(1)).toBe(true);
    const again = XenstoreClient.overMemory(store, { domid: 1 });
    await again.write('y', '1');
    expect(await dom0.read('/local/domain/1/y')).toBe('1');
  });
});

describe('special names', () => {
  it('4.17: SET_PERMS of an unknown "@" name is EINVAL (C xenstored 4.17 aborts here instead: see conformance.ts)', async () => {
    expect(await errnoOf(dom0.request(0xe, Buffer.from('@bogus\0n0\0')))).toBe('EINVAL');
    const store420 = new MemoryXenstore({ version: '4.20' });
    const xs = XenstoreClient.overMemory(store420);
    expect(await errnoOf(xs.request(0xe, Buffer.from('@bogus\0n0\0')))).toBe('ENOENT');
    expect(await xs.getPermissions('@releaseDomain')).toEqual([{ domid: 0, access: 'n' }]);
    expect(await errnoOf(dom0.getPermissions('@releaseDomain'))).toBe('EINVAL');
  });
});

describe('initDom0', () => {
  it('writes what xen-init-dom0 writes', async () => {
    store.initDom0();
    store.initDom0();
    expect(await dom0.read('/local/domain/0/name')).toBe('Domain-0');
    expect(await dom0.read('domid')).toBe('0');
    expect(await dom0.directory('/')).toEqual(['tool', 'secret', 'local']);
    expect(store.checkStore()).toEqual([]);
  });
});

describe('store consistency', () => {
  it('stays consistent through transactions, removals and domain releases', async () => {
    const g = await guest(1);
    await g.transaction(async (tx) => {
      await tx.write('a/b/c', '1');
      await tx.rm('a/b');
      await tx.write('a/d', '2');
    });
    expect(await g.directory('a')).toEqual(['d']);
    await dom0.releaseDomain(1);
    expect(store.checkStore()).toEqual([]);
    expect(store.internalErrors).toEqual([]);
  });
});
