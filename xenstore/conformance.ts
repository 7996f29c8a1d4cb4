// The xenstore conformance suite: protocol semantics checked the same way against any server.
// tests/integration/xenstore-conformance.test.ts runs it against MemoryXenstore; tests/xen/xenstore.test.ts
// runs it inside the lab's dom0 against the real C xenstored (node dist/xenstore/conformance.js).
// A difference between the two is a bug in MemoryXenstore.
import { XenstoreClient, type XsWatch } from './client.js';
import { XenstoreError, type XsErrno } from './errors.js';
import { joinStrings, XsType } from './wire.js';

/** What a conformance run needs: fresh privileged connections to one server. */
export interface ConformanceTarget {
  /** Opens a new privileged connection (a socket client of dom0). */
  connect(): Promise<XenstoreClient>;
  /** A domid that exists nowhere (default 31999). */
  readonly absentDomid?: number;
  /** The xenstored version whose behaviour to expect where 4.17 and 4.20 differ. */
  readonly version: '4.17' | '4.20';
}

/** Per-case helpers: a unique base path, connections closed at the end, assertions. */
export interface CaseContext {
  /** A path unique to this case, not yet existing (below a per-run root). */
  readonly base: string;
  /** The case's first connection. */
  readonly xs: XenstoreClient;
  /** Opens another connection (closed automatically). */
  connect(): Promise<XenstoreClient>;
  readonly absentDomid: number;
  /** The server's version (for the few cases where 4.17 and 4.20 differ). */
  readonly version: '4.17' | '4.20';
}

/** One named check. */
export interface ConformanceCase {
  readonly name: string;
  /**
   * Set (to the reason) for cases that only apply to a socket connection: through /dev/xen/xenbus the
   * Linux kernel answers watch requests itself and shares dom0's own connection to xenstored.
   */
  readonly socketOnly?: string;
  /** Set for cases that must only run against these versions of C xenstored (with the reason in `why`). */
  readonly versions?: readonly ('4.17' | '4.20')[];
  readonly why?: string;
  readonly run: (ctx: CaseContext) => Promise<void>;
}

/** The cases that apply to a transport and a xenstored version. */
export function casesFor(transport: 'socket' | 'xenbus', version: '4.17' | '4.20'): ConformanceCase[] {
  return CONFORMANCE_CASES.filter((c) => (transport === 'socket' || !c.socketOnly) && (!c.versions || c.versions.includes(version)));
}

/** Assertion failure inside a case. */
export class ConformanceFailure extends Error {}

function fmt(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (Buffer.isBuffer(x) ? `<${x.toString('hex')}>` : x));
}

/** Deep equality by JSON form (values are strings, arrays, plain objects). */
export function equal(actual: unknown, expected: unknown, what: string): void {
  if (fmt(actual) !== fmt(expected)) throw new ConformanceFailure(`${what}: expected ${fmt(expected)}, got ${fmt(actual)}`);
}

/** Expects `p` to reject with a XenstoreError of errno `errno`. */
export async function rejects(p: Promise<unknown>, errno: XsErrno, what: string): Promise<void> {
  try {
    const value = await p;
    throw new ConformanceFailure(`${what}: expected ${errno}, but it succeeded with ${fmt(value)}`);
  } catch (error) {
    if (error instanceof ConformanceFailure) throw error;
    if (!(error instanceof XenstoreError)) throw error;
    if (error.errno !== errno) throw new ConformanceFailure(`${what}: expected ${errno}, got ${error.errno} (${error.message})`);
  }
}

/** Collects a watch's events; `until` waits for an event path. */
export class EventLog {
  readonly paths: string[] = [];
  private waiters: { path: string; resolve: () => void }[] = [];
  private failure: unknown;

  constructor(readonly watch: XsWatch) {
    void (async () => {
      try {
        for await (const event of watch) {
          this.paths.push(event.path);
          for (const w of this.waiters.filter((x) => x.path === event.path)) w.resolve();
          this.waiters = this.waiters.filter((x) => x.path !== event.path);
        }
      } catch (error) {
        this.failure = error;
      }
    })();
  }

  /** Waits until an event for `path` arrived (counting from the start), or fails after `ms`. */
  async until(path: string, ms = 5000): Promise<void> {
    if (this.paths.includes(path)) return;
    if (this.failure) throw this.failure;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.waiters.push({ path, resolve })),
      new Promise<void>((_, reject) => {
        timer = setTimeout(() => reject(new ConformanceFailure(`no watch event for ${path} within ${ms} ms (got ${fmt(this.paths)})`)), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Events from index `from` on. */
  since(from: number): string[] {
    return this.paths.slice(from);
  }
}

/** Registers a watch, waits for its acknowledgement and its initial event. */
async function watched(xs: XenstoreClient, path: string, token: string): Promise<EventLog> {
  const log = new EventLog(xs.watch(path, token));
  await log.watch.ready;
  await log.until(path);
  return log;
}

/** A sync point: writes `marker` (under a watched path) and waits for its event. */
async function sync(xs: XenstoreClient, log: EventLog, marker: string): Promise<void> {
  await xs.write(marker, 'sync');
  await log.until(marker);
}

const raw = (xs: XenstoreClient, type: number, parts: string[], tx = 0) => xs.request(type, joinStrings(parts), tx);

/** The cases. Names are stable: the lab test reports each by name. */
export const CONFORMANCE_CASES: readonly ConformanceCase[] = [
  {
    name: 'write then read returns the value; parents are created empty',
    async run({ xs, base }) {
      await xs.write(`${base}/a/b/c`, 'value');
      equal(await xs.read(`${base}/a/b/c`), 'value', 'read back');
      equal(await xs.read(`${base}/a/b`), '', 'created parent value');
      equal(await xs.directory(`${base}/a`), ['b'], 'parent children');
    },
  },
  {
    name: 'values are bytes: binary, NUL and empty values survive',
    async run({ xs, base }) {
      const bytes = Buffer.from([0, 1, 2, 0xff, 0x0a, 0x5c, 0x7f, 0x80]);
      await xs.write(`${base}/bin`, bytes);
      equal((await xs.readBytes(`${base}/bin`)).toString('hex'), bytes.toString('hex'), 'binary');
      await xs.write(`${base}/empty`, '');
      equal(await xs.read(`${base}/empty`), '', 'empty');
    },
  },
  {
    name: 'largest value that fits in one message is accepted',
    async run({ xs, base }) {
      const path = `${base}/big`;
      // 4096 bytes over the socket; 4080 through /dev/xen/xenbus (Linux counts the header in).
      const value = 'x'.repeat(xs.maxPayload - path.length - 1);
      await xs.write(path, value);
      equal((await xs.read(path)).length, value.length, 'length');
    },
  },
  {
    name: 'payload over 4096 bytes is refused before sending and the connection stays usable',
    async run({ xs, base }) {
      await rejects(xs.write(`${base}/huge`, 'x'.repeat(5000)), 'E2BIG', 'oversized write');
      await xs.write(`${base}/after`, 'ok');
      equal(await xs.read(`${base}/after`), 'ok', 'connection still works');
    },
  },
  {
    name: 'directory lists children in creation order',
    async run({ xs, base }) {
      for (const name of ['zeta', 'alpha', 'mid', 'Beta-1', '_u', '@x']) await xs.write(`${base}/${name}`, name);
      equal(await xs.directory(base), ['zeta', 'alpha', 'mid', 'Beta-1', '_u', '@x'], 'order');
      await xs.rm(`${base}/alpha`);
      await xs.write(`${base}/alpha`, 'again');
      equal(await xs.directory(base), ['zeta', 'mid', 'Beta-1', '_u', '@x', 'alpha'], 'order after re-create');
    },
  },
  {
    name: 'read, directory and get-perms of a missing node: ENOENT',
    async run({ xs, base }) {
      await rejects(xs.read(`${base}/missing`), 'ENOENT', 'read');
      await rejects(xs.directory(`${base}/missing`), 'ENOENT', 'directory');
      await rejects(xs.getPermissions(`${base}/missing`), 'ENOENT', 'get-perms');
    },
  },
  {
    name: 'invalid paths: EINVAL from the server',
    async run({ xs, base }) {
      for (const path of [`${base}/trailing/`, `${base}//double`, `${base}/bad char`, `${base}/bad.dot`, '@releaseDomain']) {
        await rejects(raw(xs, XsType.READ, [path]), 'EINVAL', `read ${JSON.stringify(path)}`);
      }
      await rejects(raw(xs, XsType.WRITE, [`${base}/x y`, 'v']), 'EINVAL', 'write bad char');
      await rejects(xs.request(XsType.READ, Buffer.from(`${base}/no-nul`)), 'EINVAL', 'read without NUL');
      await rejects(xs.request(XsType.READ, Buffer.from(`${base}/a\0extra\0`)), 'EINVAL', 'read with two strings');
      await rejects(xs.request(XsType.WRITE, Buffer.from(`${base}/no-nul-at-all`)), 'EINVAL', 'write without NUL');
    },
  },
  {
    name: 'path length limit: 2048 characters outside /local/domain/<id>/ (4.20: unprivileged only)',
    async run({ xs, base, version }) {
      const long = `${base}/${'a'.repeat(2048 - base.length)}`;
      equal(long.length, 2049, 'test path length');
      if (version === '4.17') await rejects(raw(xs, XsType.WRITE, [long, 'v']), 'EINVAL', 'too long');
      else {
        await xs.request(XsType.WRITE, Buffer.from(`${long}\0v`));
        equal((await raw(xs, XsType.READ, [long])).toString(), 'v', 'dom0 is not limited in 4.20');
      }
      const fits = long.slice(0, 2048);
      await xs.write(fits, 'v');
      equal(await xs.read(fits), 'v', 'longest accepted');
    },
  },
  {
    name: 'relative paths of a dom0 socket connection resolve below /local/domain/0',
    async run({ xs, base }) {
      const rel = `txl-conformance-rel-${base.replace(/[^A-Za-z0-9]/g, '')}`;
      try {
        await xs.write(`${rel}/k`, 'v');
        equal(await xs.read(`/local/domain/0/${rel}/k`), 'v', 'absolute view');
        equal(await xs.read(`${rel}/k`), 'v', 'relative read');
      } finally {
        await xs.rm(`/local/domain/0/${rel}`).catch(() => undefined);
      }
    },
  },
  {
    name: 'mkdir creates an empty node, keeps an existing value',
    async run({ xs, base }) {
      await xs.mkdir(`${base}/d/e`);
      equal(await xs.read(`${base}/d/e`), '', 'new dir value');
      await xs.write(`${base}/v`, 'keep');
      await xs.mkdir(`${base}/v`);
      equal(await xs.read(`${base}/v`), 'keep', 'mkdir on existing');
    },
  },
  {
    name: 'rm removes subtrees; missing node with existing parent is fine; missing parent is ENOENT; / is EINVAL',
    async run({ xs, base }) {
      await xs.write(`${base}/t/a/b`, '1');
      await xs.write(`${base}/t/c`, '2');
      await xs.rm(`${base}/t`);
      await rejects(xs.read(`${base}/t/a/b`), 'ENOENT', 'subtree gone');
      equal(await xs.directory(base), [], 'parent now empty');
      await xs.rm(`${base}/nothing`);
      await rejects(xs.rm(`${base}/no/parent`), 'ENOENT', 'missing parent');
      await rejects(raw(xs, XsType.RM, ['/']), 'EINVAL', 'rm /');
    },
  },
  {
    name: 'new nodes inherit the parent permissions; set/get permissions round trip',
    async run({ xs, base }) {
      await xs.write(`${base}/p`, '');
      equal(await xs.getPermissions(`${base}/p`), [{ domid: 0, access: 'n' }], 'default');
      await xs.setPermissions(`${base}/p`, [{ domid: 0, access: 'r' }, { domid: 0, access: 'b' }]);
      equal(await xs.getPermissions(`${base}/p`), [{ domid: 0, access: 'r' }, { domid: 0, access: 'b' }], 'after set');
      await xs.write(`${base}/p/child/grand`, 'x');
      equal(await xs.getPermissions(`${base}/p/child/grand`), [{ domid: 0, access: 'r' }, { domid: 0, access: 'b' }], 'inherited');
    },
  },
  {
    name: 'permissions naming an absent domain: owner is ENOENT, other entries are kept',
    async run({ xs, base, absentDomid }) {
      await xs.write(`${base}/q`, '');
      await rejects(xs.setPermissions(`${base}/q`, [{ domid: absentDomid, access: 'n' }]), 'ENOENT', 'absent owner');
      await xs.setPermissions(`${base}/q`, [{ domid: 0, access: 'n' }, { domid: absentDomid, access: 'r' }]);
      equal(await xs.getPermissions(`${base}/q`), [{ domid: 0, access: 'n' }, { domid: absentDomid, access: 'r' }], 'kept');
    },
  },
  {
    name: 'set-perms argument errors: EINVAL',
    async run({ xs, base }) {
      await xs.write(`${base}/r`, '');
      await rejects(raw(xs, XsType.SET_PERMS, [`${base}/r`]), 'EINVAL', 'no permissions');
      await rejects(raw(xs, XsType.SET_PERMS, [`${base}/r`, 'x0']), 'EINVAL', 'bad letter');
      await rejects(raw(xs, XsType.SET_PERMS, [`${base}/r`, 'r']), 'EINVAL', 'no domid');
      await rejects(raw(xs, XsType.SET_PERMS, [`${base}/r`, 'r1z']), 'EINVAL', 'junk after domid');
    },
  },
  {
    name: 'set-perms of an unknown special name: ENOENT (special names are nodes in 4.20)',
    versions: ['4.20'],
    why: 'C xenstored 4.17 aborts on this request (do_set_perms returns the stale errno instead of '
      + "set_perms_special's EINVAL, sends no reply, and trips assert(conn->in == NULL)): it would kill the lab's xenstored",
    async run({ xs }) {
      await rejects(raw(xs, XsType.SET_PERMS, ['@bogusSpecial', 'n0']), 'ENOENT', 'unknown special');
    },
  },
  {
    name: 'special nodes: set-perms allowed for dom0; get-perms is EINVAL (4.20: the permissions)',
    async run({ xs, version }) {
      await xs.setPermissions('@releaseDomain', [{ domid: 0, access: 'n' }]);
      await xs.setPermissions('@introduceDomain', [{ domid: 0, access: 'n' }]);
      if (version === '4.17') await rejects(xs.getPermissions('@releaseDomain'), 'EINVAL', 'get-perms special');
      else equal(await xs.getPermissions('@releaseDomain'), [{ domid: 0, access: 'n' }], 'get-perms special');
    },
  },
  {
    name: 'watch fires once on registration, then for the node and its descendants',
    async run({ xs, base }) {
      await xs.write(`${base}/w`, '');
      const log = await watched(xs, `${base}/w`, 'tok');
      const start = log.paths.length;
      await xs.write(`${base}/w/child`, '1');
      await xs.write(`${base}/w`, 'v');
      await xs.write(`${base}/other`, 'not me');
      await xs.write(`${base}/w/child/deep`, '2');
      await log.until(`${base}/w/child/deep`);
      equal(log.since(start), [`${base}/w/child`, `${base}/w`, `${base}/w/child/deep`], 'events');
      equal(log.paths.slice(0, start), [`${base}/w`], 'initial event');
      await log.watch.close();
    },
  },
  {
    name: 'watch on a missing node fires when it is created, and for mkdir, set-perms and rm',
    async run({ xs, base }) {
      await xs.mkdir(base);
      const log = await watched(xs, `${base}/later`, 'tok2');
      const start = log.paths.length;
      await xs.mkdir(`${base}/later`);
      await xs.mkdir(`${base}/later`); // exists: no event
      await xs.setPermissions(`${base}/later`, [{ domid: 0, access: 'r' }]);
      await xs.rm(`${base}/later`);
      await xs.rm(`${base}/later`); // already gone: no event
      await xs.write(`${base}/later/x`, 'y');
      await log.until(`${base}/later/x`);
      equal(log.since(start), [`${base}/later`, `${base}/later`, `${base}/later`, `${base}/later/x`], 'events');
      await log.watch.close();
    },
  },
  {
    name: 'removing a subtree fires watches on each removed node with its own path',
    async run({ xs, base }) {
      await xs.write(`${base}/s/a/b`, '1');
      await xs.write(`${base}/s/c`, '2');
      const onB = await watched(xs, `${base}/s/a/b`, 'b');
      const onS = await watched(xs, `${base}/s`, 's');
      const onGhost = await watched(xs, `${base}/s/a/b/ghost`, 'g');
      const [fromB, fromS, fromGhost] = [onB.paths.length, onS.paths.length, onGhost.paths.length];
      await xs.rm(`${base}/s/a`);
      await onS.until(`${base}/s/a`);
      await onB.until(`${base}/s/a/b`);
      const marker = await watched(xs, `${base}/marker`, 'm');
      await sync(xs, marker, `${base}/marker`);
      equal(onB.since(fromB), [`${base}/s/a/b`], 'exact node event');
      equal(onS.since(fromS), [`${base}/s/a`], 'ancestor event carries the removed root');
      equal(onGhost.since(fromGhost), [], 'watch below a missing node does not fire');
    },
  },
  {
    name: 'watches of another connection fire; unwatch stops them',
    async run({ xs, base, connect }) {
      const other = await connect();
      await xs.mkdir(base);
      const log = await watched(other, base, 'peer');
      await xs.write(`${base}/one`, '1');
      await log.until(`${base}/one`);
      await log.watch.close();
      const marker = await watched(other, `${base}/m2`, 'm2');
      await xs.write(`${base}/two`, '2');
      await sync(xs, marker, `${base}/m2`);
      equal(log.paths.includes(`${base}/two`), false, 'no event after unwatch');
    },
  },
  {
    name: 'watch errors: duplicate is EEXIST, unknown unwatch is ENOENT, bad path is EINVAL',
    socketOnly: 'the kernel registers each watch of /dev/xen/xenbus under its own token: no EEXIST, UNWATCH always OK',
    async run({ xs, base }) {
      const w = xs.watch(`${base}/dup`, 'same');
      await w.ready;
      await rejects(raw(xs, XsType.WATCH, [`${base}/dup`, 'same']), 'EEXIST', 'duplicate');
      await rejects(raw(xs, XsType.UNWATCH, [`${base}/nope`, 'same']), 'ENOENT', 'unknown unwatch');
      await rejects(raw(xs, XsType.WATCH, [`${base}/bad/`, 't']), 'EINVAL', 'bad watch path');
      await rejects(raw(xs, XsType.WATCH, [`${base}/only-path`]), 'EINVAL', 'missing token');
      await w.close();
    },
  },
  {
    name: 'relative watch reports relative paths',
    async run({ xs, base }) {
      const rel = `txl-conformance-rw-${base.replace(/[^A-Za-z0-9]/g, '')}`;
      try {
        await xs.mkdir(`/local/domain/0/${rel}`);
        const log = await watched(xs, rel, 'rel');
        const start = log.paths.length;
        await xs.write(`/local/domain/0/${rel}/k`, 'v');
        await log.until(`${rel}/k`);
        equal(log.since(start), [`${rel}/k`], 'relative event path');
        await log.watch.close();
      } finally {
        await xs.rm(`/local/domain/0/${rel}`).catch(() => undefined);
      }
    },
  },
  {
    name: 'special watches: @introduceDomain and @releaseDomain fire on registration',
    async run({ xs }) {
      const intro = await watched(xs, '@introduceDomain', 'i');
      const rel = await watched(xs, '@releaseDomain', 'r');
      equal(intro.paths, ['@introduceDomain'], 'introduce');
      equal(rel.paths, ['@releaseDomain'], 'release');
      await intro.watch.close();
      await rel.watch.close();
    },
  },
  {
    name: 'reset-watches drops the watches of the connection',
    socketOnly: "through /dev/xen/xenbus it would drop the dom0 kernel's own watches",
    async run({ xs, base, connect }) {
      const other = await connect();
      await other.mkdir(base);
      const log = new EventLog(other.watch(base, 'gone'));
      await log.watch.ready;
      await log.until(base);
      await raw(other, XsType.RESET_WATCHES, ['']);
      const marker = await watched(xs, `${base}/m3`, 'm3');
      await other.write(`${base}/after-reset`, '1');
      await sync(xs, marker, `${base}/m3`);
      // Give a late event a chance to arrive on `other`: one more round trip on it.
      await other.read(`${base}/after-reset`);
      equal(log.paths, [base], 'no event after reset');
    },
  },
  {
    name: 'transaction: writes are invisible outside until commit',
    async run({ xs, base, connect }) {
      const other = await connect();
      await xs.write(`${base}/x`, 'old');
      const tx = await xs.transactionStart();
      await tx.write(`${base}/x`, 'new');
      await tx.write(`${base}/created`, 'c');
      equal(await tx.read(`${base}/x`), 'new', 'inside');
      equal(await other.read(`${base}/x`), 'old', 'outside before commit');
      await rejects(other.read(`${base}/created`), 'ENOENT', 'created outside before commit');
      await xs.transactionEnd(tx, true);
      equal(await other.read(`${base}/x`), 'new', 'after commit');
      equal(await other.read(`${base}/created`), 'c', 'created after commit');
    },
  },
  {
    name: 'transaction: abort discards everything',
    async run({ xs, base }) {
      await xs.write(`${base}/x`, 'old');
      const tx = await xs.transactionStart();
      await tx.write(`${base}/x`, 'new');
      await tx.rm(`${base}/x`);
      await tx.write(`${base}/y/z`, 'z');
      await xs.transactionEnd(tx, false);
      equal(await xs.read(`${base}/x`), 'old', 'x');
      await rejects(xs.read(`${base}/y`), 'ENOENT', 'y');
    },
  },
  {
    name: 'transaction: a concurrent change of a node it read makes commit fail with EAGAIN',
    async run({ xs, base, connect }) {
      const other = await connect();
      await xs.write(`${base}/x`, '1');
      const tx = await xs.transactionStart();
      equal(await tx.read(`${base}/x`), '1', 'read in tx');
      await tx.write(`${base}/y`, 'from tx');
      await other.write(`${base}/x`, '2');
      await rejects(xs.transactionEnd(tx, true), 'EAGAIN', 'commit');
      await rejects(xs.read(`${base}/y`), 'ENOENT', 'nothing applied');
      equal(await xs.read(`${base}/x`), '2', 'other write kept');
    },
  },
  {
    name: 'transaction: creation of a node it found missing conflicts; unrelated nodes do not',
    async run({ xs, base, connect }) {
      const other = await connect();
      await xs.write(`${base}/a`, '1');
      await xs.write(`${base}/b`, '1');
      const tx = await xs.transactionStart();
      await tx.write(`${base}/a`, '2');
      await other.write(`${base}/b`, '2');
      await xs.transactionEnd(tx, true);
      equal(await xs.read(`${base}/a`), '2', 'unrelated change: commit ok');
      const tx2 = await xs.transactionStart();
      await rejects(tx2.read(`${base}/c`), 'ENOENT', 'missing in tx');
      await other.write(`${base}/c`, 'now');
      await rejects(xs.transactionEnd(tx2, true), 'EAGAIN', 'phantom');
    },
  },
  {
    name: 'transaction helper retries on EAGAIN and returns the result',
    async run({ xs, base, connect }) {
      const other = await connect();
      await xs.write(`${base}/n`, '0');
      let attempts = 0;
      const result = await xs.transaction(async (tx) => {
        attempts++;
        const n = Number(await tx.read(`${base}/n`));
        if (attempts === 1) await other.write(`${base}/n`, '10');
        await tx.write(`${base}/n`, String(n + 1));
        return n + 1;
      });
      equal(attempts, 2, 'attempts');
      equal(result, 11, 'result');
      equal(await xs.read(`${base}/n`), '11', 'stored');
    },
  },
  {
    name: 'transaction: watches fire at commit, not for aborted changes',
    async run({ xs, base, connect }) {
      const other = await connect();
      await xs.mkdir(base);
      const log = await watched(other, base, 'txw');
      const start = log.paths.length;
      const aborted = await xs.transactionStart();
      await aborted.write(`${base}/aborted`, '1');
      await xs.transactionEnd(aborted, false);
      const tx = await xs.transactionStart();
      await tx.write(`${base}/committed`, '1');
      await other.read(base); // round trip: an event fired before commit would be here by now
      equal(log.since(start), [], 'nothing before commit');
      await xs.transactionEnd(tx, true);
      await log.until(`${base}/committed`);
      equal(log.since(start), [`${base}/committed`], 'commit event');
    },
  },
  {
    name: 'transaction protocol errors: unknown id ENOENT, nested start EBUSY, bad end EINVAL, ended tx ENOENT',
    async run({ xs, base }) {
      await xs.mkdir(base);
      await rejects(raw(xs, XsType.READ, [base], 0x7ffffff1), 'ENOENT', 'unknown tx id');
      const tx = await xs.transactionStart();
      await rejects(raw(xs, XsType.TRANSACTION_START, [''], tx.id), 'EBUSY', 'nested start');
      await rejects(raw(xs, XsType.TRANSACTION_END, ['X'], tx.id), 'EINVAL', 'bad end argument');
      await xs.transactionEnd(tx, false);
      await rejects(xs.transactionEnd(tx, false), 'ENOENT', 'tx already ended');
    },
  },
  {
    name: 'transaction end without a transaction id: ENOENT',
    socketOnly: 'Linux 6.x drops the reply to this request on /dev/xen/xenbus (WARN in xenbus_dev_queue_reply)',
    async run({ xs }) {
      await rejects(raw(xs, XsType.TRANSACTION_END, ['T']), 'ENOENT', 'end without tx id');
    },
  },
  {
    name: 'transaction: rm and re-create inside one transaction',
    async run({ xs, base }) {
      await xs.write(`${base}/r/a`, '1');
      await xs.transaction(async (tx) => {
        await tx.rm(`${base}/r`);
        await rejects(tx.read(`${base}/r/a`), 'ENOENT', 'gone in tx');
        await tx.write(`${base}/r/b`, '2');
      });
      equal(await xs.directory(`${base}/r`), ['b'], 'children after commit');
    },
  },
  {
    name: 'large directories: DIRECTORY is E2BIG, DIRECTORY_PART chunks list everything in order',
    async run({ xs, base }) {
      const names = Array.from({ length: 260 }, (_, i) => `child-with-a-long-name-${String(i).padStart(4, '0')}`);
      await Promise.all(names.map((n) => xs.write(`${base}/big/${n}`, '')));
      await rejects(raw(xs, XsType.DIRECTORY, [`${base}/big`]), 'E2BIG', 'plain directory');
      const listed = await xs.directory(`${base}/big`);
      equal(listed.length, names.length, 'count');
      equal([...listed].sort(), [...names].sort(), 'names');
      const first = await raw(xs, XsType.DIRECTORY_PART, [`${base}/big`, '0']);
      const genEnd = first.indexOf(0);
      equal(/^\d+$/.test(first.toString('latin1', 0, genEnd)), true, 'generation string');
      equal(first.length <= 4096, true, 'chunk fits');
      equal(first[first.length - 2] === 0, false, 'first chunk is not the last');
      const past = await raw(xs, XsType.DIRECTORY_PART, [`${base}/big`, '999999']);
      equal(past.subarray(past.indexOf(0)).toString('hex'), '0000', 'offset past the end');
    },
  },
  {
    name: 'DIRECTORY_PART of a small directory is the whole list plus a final NUL',
    async run({ xs, base }) {
      await xs.write(`${base}/k1`, '');
      await xs.write(`${base}/k2`, '');
      const reply = await raw(xs, XsType.DIRECTORY_PART, [base, '0']);
      equal(reply.subarray(reply.indexOf(0) + 1).toString('latin1'), 'k1\0k2\0\0', 'payload');
      equal(await xs.directoryByParts(base), ['k1', 'k2'], 'parsed');
      await xs.mkdir(`${base}/none`);
      const empty = await raw(xs, XsType.DIRECTORY_PART, [`${base}/none`, '0']);
      equal(empty.subarray(empty.indexOf(0) + 1).toString('hex'), '00', 'empty directory');
      await rejects(raw(xs, XsType.DIRECTORY_PART, [base]), 'EINVAL', 'missing offset');
    },
  },
  {
    name: 'domain requests: paths, introduced state, errors for absent domains',
    async run({ xs, absentDomid }) {
      equal(await xs.getDomainPath(7), '/local/domain/7', 'get-domain-path');
      equal((await raw(xs, XsType.GET_DOMAIN_PATH, ['junk'])).toString('latin1'), '/local/domain/0\0', 'atoi of junk');
      equal(await xs.isDomainIntroduced(0), true, 'dom0 introduced');
      equal(await xs.isDomainIntroduced(absentDomid), false, 'absent not introduced');
      equal(await xs.isDomainIntroduced(0x7ff0), true, 'DOMID_SELF');
      await rejects(xs.releaseDomain(0), 'EINVAL', 'release dom0');
      await rejects(xs.releaseDomain(absentDomid), 'ENOENT', 'release absent');
      await rejects(xs.resumeDomain(absentDomid), 'ENOENT', 'resume absent');
      await rejects(xs.setTarget(absentDomid, 0), 'ENOENT', 'set-target absent');
      await rejects(raw(xs, XsType.INTRODUCE, ['1', '2']), 'EINVAL', 'introduce with two arguments');
      await rejects(raw(xs, XsType.INTRODUCE, [String(absentDomid), '0', '0']), 'EINVAL', 'introduce with port 0');
    },
  },
  {
    name: 'control: check and print answer OK; unknown commands are EINVAL',
    async run({ xs }) {
      equal(await xs.control('check'), 'OK', 'check');
      equal(await xs.control('print', 'txl conformance'), 'OK', 'print');
      await rejects(xs.control('no-such-command'), 'EINVAL', 'unknown');
      await rejects(xs.control('check', 'extra'), 'EINVAL', 'check with argument');
    },
  },
  {
    name: 'unknown and server-only message types: ENOSYS',
    async run({ xs }) {
      await rejects(raw(xs, 20, ['x']), 'ENOSYS', 'type 20 (removed XS_RESTRICT)');
      await rejects(raw(xs, 999, ['x']), 'ENOSYS', 'type 999');
      await rejects(raw(xs, XsType.ERROR, ['x']), 'ENOSYS', 'ERROR as a request');
      await rejects(raw(xs, XsType.WATCH_EVENT, ['x', 'y']), 'ENOSYS', 'WATCH_EVENT as a request');
    },
  },
  {
    name: 'pipelined requests are answered by req_id',
    async run({ xs, base }) {
      const n = 200;
      await Promise.all(Array.from({ length: n }, (_, i) => xs.write(`${base}/p${i}`, `v${i}`)));
      const values = await Promise.all(Array.from({ length: n }, (_, i) => xs.read(`${base}/p${i}`)));
      equal(values, Array.from({ length: n }, (_, i) => `v${i}`), 'values');
    },
  },
];

/** A run root unique to this process. */
export function conformanceRoot(): string {
  return `/txl-conformance-${process.pid}-${Date.now().toString(36)}`;
}

/** Result of one case. */
export interface CaseResult {
  readonly name: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly ms: number;
}

/** Runs one case with its own base path and connections; always cleans up. */
export async function runCase(target: ConformanceTarget, c: ConformanceCase, root: string, index: number): Promise<void> {
  const clients: XenstoreClient[] = [];
  const connect = async () => {
    const client = await target.connect();
    clients.push(client);
    return client;
  };
  const xs = await connect();
  const base = `${root}/c${index}`;
  try {
    await c.run({ xs, base, connect, absentDomid: target.absentDomid ?? 31999, version: target.version });
  } finally {
    await xs.rm(base).catch(() => undefined);
    for (const client of clients) await client.close();
  }
}

/** Runs every case that applies to the transport (sequentially) and returns the results. */
export async function runConformance(
  target: ConformanceTarget, transport: 'socket' | 'xenbus' = 'socket', onResult?: (result: CaseResult) => void,
): Promise<CaseResult[]> {
  const root = conformanceRoot();
  const results: CaseResult[] = [];
  for (const [index, c] of casesFor(transport, target.version).entries()) {
    const start = Date.now();
    let result: CaseResult;
    try {
      await runCase(target, c, root, index);
      result = { name: c.name, ok: true, ms: Date.now() - start };
    } catch (error) {
      result = { name: c.name, ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error), ms: Date.now() - start };
    }
    results.push(result);
    onResult?.(result);
  }
  try {
    const cleanup = await target.connect();
    await cleanup.rm(root).catch(() => undefined);
    await cleanup.close();
  } catch {
    // reported through the cases' results
  }
  return results;
}

/**
 * Entry point for running the suite where the server is (the lab's dom0):
 * `node dist/xenstore/conformance.js socket|xenbus 4.17|4.20` prints one JSON line of CaseResult[].
 */
export async function conformanceMain(argv: readonly string[]): Promise<number> {
  const [transport, version] = argv;
  if ((transport !== 'socket' && transport !== 'xenbus') || (version !== '4.17' && version !== '4.20') || argv.length !== 2) {
    process.stderr.write(`usage: conformance.js socket|xenbus 4.17|4.20 (got ${JSON.stringify(argv)})\n`);
    return 2;
  }
  // Through the kernel under QEMU TCG, 200 pipelined requests (sent one at a time) took 15-60 s
  // (host load 5-9), and each one's timer runs from the moment it is queued: a roomy timeout.
  const timeoutMs = transport === 'xenbus' ? 240_000 : 30_000;
  const results = await runConformance({ version, connect: () => XenstoreClient.connect({ transport, timeoutMs }) }, transport, (r) => {
    process.stderr.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.ms} ms)${r.error ? `: ${r.error}` : ''}\n`);
  });
  process.stdout.write(`${JSON.stringify(results)}\n`);
  return results.every((r) => r.ok) ? 0 : 1;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  conformanceMain(process.argv.slice(2)).then(
    (status) => process.stdout.write('', () => process.exit(status)),
    (error: unknown) => process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`, () => process.exit(2)),
  );
}
