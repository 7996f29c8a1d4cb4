// MemoryXenstore: an in-memory xenstore server with the semantics of C xenstored 4.17
// (tools/xenstore/xenstored_{core,watch,transaction,domain}.c), speaking the same wire protocol
// to XenstoreClient through in-memory transports. For tests and the simulator.
//
// Modelled: node tree with ordered children, owner/ACL permissions (dom0 and socket connections are
// privileged, IGNORE for entries naming absent domains), relative paths, transactions with
// generation-based conflict detection (EAGAIN), watches (which fires on which change, relative
// watch paths, @introduceDomain/@releaseDomain with their own permissions, the event on registration),
// domains (introduce/release/resume/set-target, removal of a destroyed domain's nodes), quotas for
// unprivileged domains (nodes, watches, transactions, permissions per node, node size, transaction
// nodes, path length). Not modelled: the per-domain memory quota, rate limiting, live update,
// dropping of duplicate pending watch events.
import { XenstoreError, type WireErrno } from './errors.js';
import type { XsTransport } from './transport.js';
import { countStrings, encodeFrame, FrameDecoder, FrameError, PAYLOAD_MAX, REL_PATH_MAX, splitStrings, XsType, type XsFrame } from './wire.js';

const PERM_NONE = 0;
const PERM_READ = 1;
const PERM_WRITE = 2;
const PERM_OWNER = 8;
const PERM_IGNORE = 0x10;
const NO_GENERATION = -1;
/** DOMID_SELF (xen.h). */
const DOMID_SELF = 0x7ff0;
/** sizeof(struct xs_tdb_record_hdr) and sizeof(struct xs_permissions) (tools/xenstore/utils.h, xenstore_lib.h). */
const RECORD_HEADER_SIZE = 24;
const PERM_ENTRY_SIZE = 8;

/** Quotas applied to unprivileged domains (defaults of C xenstored 4.17). */
export interface XsQuotas {
  /** Nodes owned per domain (quota_nb_entry_per_domain). */
  readonly nodes: number;
  /** Watches per connection (quota_nb_watch_per_domain). */
  readonly watches: number;
  /** Open transactions per connection (quota_max_transaction). */
  readonly transactions: number;
  /** Permission entries per node (quota_nb_perms_per_node). */
  readonly permissions: number;
  /** Node record size in bytes (quota_max_entry_size). */
  readonly nodeSize: number;
  /** Nodes one transaction may touch (quota_trans_nodes). */
  readonly transactionNodes: number;
  /** Path length below /local/domain/<id>/ (quota_max_path_len; applies to everyone). */
  readonly pathMax: number;
}

/** C xenstored 4.17 defaults (xenstored_core.c). */
export const DEFAULT_QUOTAS: XsQuotas = {
  nodes: 1000, watches: 128, transactions: 10, permissions: 5, nodeSize: 2048, transactionNodes: 1024, pathMax: REL_PATH_MAX,
};

/** Options of a MemoryXenstore. */
export interface MemoryXenstoreOptions {
  /** Quotas for unprivileged domains. */
  readonly quotas?: Partial<XsQuotas>;
  /**
   * Domains that exist "in Xen" (for permission entries and INTRODUCE): a list of domids, or 'any'
   * (every domid exists until destroyXenDomain). Default 'any'; the conformance suite uses [0] as a
   * dom0 with no guests.
   */
  readonly xenDomains?: readonly number[] | 'any';
  /**
   * Which C xenstored to behave like (default '4.17'). 4.20 differences modelled: the path length
   * limit applies to unprivileged connections only; @introduceDomain/@releaseDomain are nodes
   * (GET_PERMS works on them, SET_PERMS on an unknown "@..." is ENOENT and fires watches);
   * UNWATCH of an invalid path is EINVAL.
   */
  readonly version?: '4.17' | '4.20';
}

interface Perm {
  id: number;
  perms: number;
}

interface NodeRecord {
  data: Buffer;
  children: string[];
  perms: Perm[];
  generation: number;
}

/** struct node: a record being worked on, with its name. */
interface Node extends NodeRecord {
  name: string;
  parent?: Node | undefined;
}

interface Accessed {
  generation: number;
  checkGen: boolean;
  modified: boolean;
  /** The transaction's copy of the node (ta_node); undefined: absent in this transaction. */
  copy: NodeRecord | undefined;
  perms: Perm[] | undefined;
  fireWatch: boolean;
  watchExact: boolean;
}

interface Transaction {
  readonly id: number;
  readonly generation: number;
  readonly accessed: Map<string, Accessed>;
  readonly changedDomains: Map<number, number>;
  nodeCreated: boolean;
  fail: boolean;
}

interface Watch {
  readonly node: string;
  readonly token: string;
  readonly relativePath: string | undefined;
}

interface Domain {
  readonly domid: number;
  readonly generation: number;
  introduced: boolean;
  shutdown: boolean;
  port: number;
  conn: Connection | undefined;
}

class XsFail extends Error {
  constructor(readonly errno: WireErrno) {
    super(errno);
  }
}

function fail(errno: WireErrno): never {
  throw new XsFail(errno);
}

/** One client connection (a socket client, or a domain's ring). */
class Connection {
  readonly watches: Watch[] = [];
  readonly transactions = new Map<number, Transaction>();
  nextTransactionId = 0;
  /** The transaction of the request being processed (conn->transaction). */
  transaction: Transaction | undefined;
  target: Connection | undefined;
  closed = false;
  /** Splits the client's byte stream into requests. */
  decoder = new FrameDecoder();
  receiver: ((chunk: Buffer) => void) | undefined;
  closeReceiver: ((error?: Error) => void) | undefined;
  constructor(
    /** conn->id: the domid (0 for socket connections). */
    readonly id: number,
    /** conn->domain; undefined for socket connections. */
    public domain: Domain | undefined,
  ) {}
}

/** An in-memory xenstored. Connect clients with `XenstoreClient.overMemory(store)` or `store.connect()`. */
export class MemoryXenstore {
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly connections: Connection[] = [];
  private readonly domains = new Map<number, Domain>();
  private readonly nbentry = new Map<number, number>();
  private readonly xenDomains: Set<number> | 'any';
  private readonly destroyedXenDomains = new Set<number>();
  private generation = 0;
  private releasePerms: Perm[] = [{ id: 0, perms: PERM_NONE }];
  private introducePerms: Perm[] = [{ id: 0, perms: PERM_NONE }];
  /** Effective quotas. */
  readonly quotas: XsQuotas;
  /** The xenstored version modelled. */
  readonly version: '4.17' | '4.20';
  /** Exceptions the server hit while processing a request (bugs); each also produced an EIO reply. */
  readonly internalErrors: unknown[] = [];
  /** Requests processed. */
  requests = 0;

  constructor(opts: MemoryXenstoreOptions = {}) {
    this.quotas = { ...DEFAULT_QUOTAS, ...opts.quotas };
    this.version = opts.version ?? '4.17';
    this.xenDomains = opts.xenDomains === undefined || opts.xenDomains === 'any' ? 'any' : new Set(opts.xenDomains);
    if (this.xenDomains !== 'any') this.xenDomains.add(0);
    // setup_structure(): "/" -> "tool" -> "xenstored", owned by dom0 with no access for others.
    const perms = (): Perm[] => [{ id: 0, perms: PERM_NONE }];
    this.nodes.set('/', { data: Buffer.alloc(0), children: ['tool'], perms: perms(), generation: ++this.generation });
    this.nodes.set('/tool', { data: Buffer.alloc(0), children: ['xenstored'], perms: perms(), generation: ++this.generation });
    this.nodes.set('/tool/xenstored', { data: Buffer.alloc(0), children: [], perms: perms(), generation: ++this.generation });
    // dom0_init(): dom0 is introduced at start.
    const dom0: Domain = { domid: 0, generation: 0, introduced: true, shutdown: false, port: 1, conn: undefined };
    this.domains.set(0, dom0);
    this.nbentry.set(0, 3);
  }

  // ---- connections ----------------------------------------------------------------------------

  /**
   * A new connection. Without `domid`: a privileged socket client (like /var/run/xenstored/socket).
   * With `domid`: that domain's ring connection (the domain must be introduced; dom0's always is).
   */
  connect(opts: { domid?: number } = {}): XsTransport {
    let conn: Connection;
    if (opts.domid === undefined) {
      conn = new Connection(0, undefined);
    } else {
      const domain = this.domains.get(opts.domid);
      if (!domain || !domain.introduced) {
        throw new XenstoreError('ENOENT', `MemoryXenstore: domain ${opts.domid} is not introduced; INTRODUCE it before connecting as it`, { code: 'TXL_XS_CONNECT' });
      }
      if (!domain.conn || domain.conn.closed) {
        domain.conn = new Connection(domain.domid, domain);
      }
      conn = domain.conn;
    }
    if (!this.connections.includes(conn)) this.connections.push(conn);
    const store = this;
    return {
      endpoint: opts.domid === undefined ? 'memory:socket' : `memory:dom${opts.domid}`,
      write(frame: Buffer): void {
        if (conn.closed) return;
        const copy = Buffer.from(frame);
        queueMicrotask(() => store.input(conn, copy));
      },
      onData(receiver) {
        conn.receiver = receiver;
      },
      onClose(receiver) {
        conn.closeReceiver = receiver;
      },
      close(): void {
        store.dropConnection(conn, undefined);
      },
    };
  }

  /** Feeds raw bytes as if a client sent them; exposed for fuzzing the server. */
  private input(conn: Connection, bytes: Buffer): void {
    if (conn.closed) return;
    let frames: XsFrame[];
    try {
      frames = conn.decoder.push(bytes);
    } catch (error) {
      // handle_input(): a header announcing more than XENSTORE_PAYLOAD_MAX drops the client.
      this.dropConnection(conn, error instanceof FrameError ? error : new Error(String(error)));
      return;
    }
    for (const frame of frames) {
      if (conn.closed) return;
      this.process(conn, frame);
    }
  }

  private dropConnection(conn: Connection, error: Error | undefined): void {
    if (conn.closed) return;
    if (conn.domain && conn.domain.conn === conn && this.domains.get(conn.domain.domid) === conn.domain) {
      // A domain's ring outlives a reader going away: reset it (as ignore_connection + reconnect would).
      conn.watches.length = 0;
      conn.transactions.clear();
      conn.decoder = new FrameDecoder();
      const receiver = conn.closeReceiver;
      conn.receiver = undefined;
      conn.closeReceiver = undefined;
      if (receiver) queueMicrotask(() => receiver(error));
      return;
    }
    conn.closed = true;
    conn.watches.length = 0;
    conn.transactions.clear();
    const index = this.connections.indexOf(conn);
    if (index >= 0) this.connections.splice(index, 1);
    if (conn.domain && conn.domain.conn === conn) conn.domain.conn = undefined;
    const receiver = conn.closeReceiver;
    if (receiver) queueMicrotask(() => receiver(error));
  }

  private send(conn: Connection, frame: XsFrame): void {
    if (conn.closed) return;
    const bytes = encodeFrame(frame);
    const receiver = conn.receiver;
    if (receiver) queueMicrotask(() => { if (!conn.closed) receiver(bytes); });
  }

  private reply(conn: Connection, request: XsFrame, type: number, payload: Buffer): void {
    // send_reply(): replies over XENSTORE_PAYLOAD_MAX become E2BIG.
    if (payload.length > PAYLOAD_MAX) return this.replyError(conn, request, 'E2BIG');
    this.send(conn, { type, reqId: request.reqId, txId: request.txId, payload });
  }

  private replyError(conn: Connection, request: XsFrame, errno: WireErrno): void {
    this.send(conn, { type: XsType.ERROR, reqId: request.reqId, txId: request.txId, payload: Buffer.from(`${errno}\0`) });
  }

  private ack(conn: Connection, request: XsFrame): void {
    this.reply(conn, request, request.type, Buffer.from('OK\0'));
  }

  private sendEvent(conn: Connection, path: string, token: string): void {
    const payload = Buffer.from(`${path}\0${token}\0`, 'utf8');
    if (payload.length > PAYLOAD_MAX) return;
    this.send(conn, { type: XsType.WATCH_EVENT, reqId: 0, txId: 0, payload });
  }

  // ---- domains as the hypervisor sees them (simulator hooks) ----------------------------------

  /** The simulator created domain `domid` in "Xen" (matters for permissions naming it). */
  createXenDomain(domid: number): void {
    this.destroyedXenDomains.delete(domid);
    if (this.xenDomains !== 'any') this.xenDomains.add(domid);
  }

  /** The domain shut down or crashed: fires @releaseDomain if it is introduced (check_domains). */
  shutdownXenDomain(domid: number): void {
    const domain = this.domains.get(domid);
    if (domain?.introduced && !domain.shutdown) {
      domain.shutdown = true;
      this.fireWatches(undefined, '@releaseDomain', undefined, true, undefined);
    }
  }

  /** The domain is gone from Xen: its connection closes, its nodes are removed, @releaseDomain fires. */
  destroyXenDomain(domid: number): void {
    if (domid === 0) return;
    if (this.xenDomains !== 'any') this.xenDomains.delete(domid);
    else this.destroyedXenDomains.add(domid);
    const domain = this.domains.get(domid);
    if (domain) this.destroyDomain(domain);
  }

  private xenHas(domid: number): boolean {
    if (this.xenDomains === 'any') return !this.destroyedXenDomains.has(domid) && domid < 0x7ff0;
    return this.xenDomains.has(domid);
  }

  /** True when xenstored has this domain introduced. */
  isIntroduced(domid: number): boolean {
    return this.domains.get(domid)?.introduced ?? false;
  }

  private allocDomain(domid: number): Domain {
    const domain: Domain = { domid, generation: this.generation, introduced: false, shutdown: false, port: 0, conn: undefined };
    this.domains.set(domid, domain);
    return domain;
  }

  private findOrAllocExistingDomain(domid: number): Domain | undefined {
    return this.domains.get(domid) ?? (this.xenHas(domid) ? this.allocDomain(domid) : undefined);
  }

  /** destroy_domain(): remove owned nodes, drop from special perms, fire @releaseDomain if introduced. */
  private destroyDomain(domain: Domain): void {
    this.domains.delete(domain.domid);
    if (domain.conn) {
      const conn = domain.conn;
      domain.conn = undefined;
      this.dropConnection(conn, new Error(`domain ${domain.domid} released`));
    }
    if ((this.nbentry.get(domain.domid) ?? 0) > 0) this.removeDomainNodes(domain.domid);
    this.nbentry.delete(domain.domid);
    for (const perms of [this.releasePerms, this.introducePerms]) {
      if (perms[0]!.id === domain.domid) perms[0]!.id = 0;
      for (let i = perms.length - 1; i >= 1; i--) if (perms[i]!.id === domain.domid) perms.splice(i, 1);
    }
    if (domain.introduced) this.fireWatches(undefined, '@releaseDomain', undefined, true, undefined);
  }

  /** domain_tree_remove(): pre-order walk from "/", removing every subtree owned by `domid`. */
  private removeDomainNodes(domid: number): void {
    const visit = (name: string): void => {
      const rec = this.nodes.get(name);
      if (!rec) return;
      if (rec.perms[0]!.id === domid && name !== '/') {
        try {
          this.rmNode(undefined, name);
        } catch {
          // as xenstored: log and continue
        }
        return;
      }
      for (const child of [...rec.children]) visit(joinName(name, child));
    };
    visit('/');
  }

  // ---- request dispatch (process_message) -----------------------------------------------------

  private process(conn: Connection, request: XsFrame): void {
    this.requests++;
    const type = request.type;
    const handler = HANDLERS[type];
    if (!handler) return this.replyError(conn, request, 'ENOSYS');
    if (handler.priv && this.isUnprivileged(conn)) return this.replyError(conn, request, 'EACCES');
    let trans: Transaction | undefined;
    if (!handler.noTid && request.txId !== 0) {
      trans = conn.transactions.get(request.txId);
      if (!trans) return this.replyError(conn, request, 'ENOENT');
    }
    conn.transaction = trans;
    try {
      handler.fn.call(this, conn, request);
    } catch (error) {
      if (error instanceof XsFail) this.replyError(conn, request, error.errno);
      else {
        this.internalErrors.push(error);
        this.replyError(conn, request, 'EIO');
      }
    } finally {
      conn.transaction = undefined;
    }
  }

  private isUnprivileged(conn: Connection | undefined): boolean {
    return conn !== undefined && conn.domain !== undefined && conn.domain.domid !== 0;
  }

  // ---- nodes: read/write with transactions (read_node, write_node, access_node) ---------------

  private readNode(conn: Connection | undefined, name: string): Node {
    const trans = conn?.transaction;
    const accessed = trans?.accessed.get(name);
    const rec = accessed ? accessed.copy : this.nodes.get(name);
    if (!rec) {
      const ghost: Node = { name, data: Buffer.alloc(0), children: [], perms: [], generation: NO_GENERATION };
      this.accessNode(conn, ghost, 'read');
      fail('ENOENT');
    }
    const node: Node = { name, data: rec.data, children: [...rec.children], perms: rec.perms.map((p) => ({ ...p })), generation: rec.generation };
    this.adjustNodePerms(node);
    this.accessNode(conn, node, 'read');
    return node;
  }

  /** Like readNode but undefined for ENOENT. */
  private tryReadNode(conn: Connection | undefined, name: string): Node | undefined {
    try {
      return this.readNode(conn, name);
    } catch (error) {
      if (error instanceof XsFail && error.errno === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** access_node(): records the access in the transaction. Returns false for "nothing to delete". */
  private accessNode(conn: Connection | undefined, node: Node, type: 'read' | 'write' | 'delete'): boolean {
    if (type !== 'read') node.generation = ++this.generation;
    const trans = conn?.transaction;
    if (!conn || !trans) return true;
    let entry = trans.accessed.get(node.name);
    let introduce = false;
    if (!entry) {
      if (trans.accessed.size >= this.quotas.transactionNodes && this.isUnprivileged(conn)) {
        trans.fail = true;
        fail('ENOSPC');
      }
      entry = {
        generation: 0, checkGen: false, modified: false, copy: undefined,
        perms: node.generation !== NO_GENERATION && node.perms.length ? node.perms.map((p) => ({ ...p })) : undefined,
        fireWatch: false, watchExact: false,
      };
      introduce = true;
      if (type === 'read') {
        entry.generation = node.generation;
        entry.checkGen = true;
        if (node.generation !== NO_GENERATION) entry.copy = toRecord(node);
      }
      trans.accessed.set(node.name, entry);
    }
    if (type !== 'read') entry.modified = true;
    if (introduce && type === 'delete') return false;
    if (type === 'delete') entry.copy = undefined;
    return true;
  }

  private recordSize(node: NodeRecord): number {
    let childlen = 0;
    for (const c of node.children) childlen += Buffer.byteLength(c) + 1;
    return RECORD_HEADER_SIZE + PERM_ENTRY_SIZE * node.perms.length + node.data.length + childlen;
  }

  /** write_node(): access check (transaction bookkeeping), quota, store. */
  private writeNode(conn: Connection | undefined, node: Node, noQuotaCheck: boolean): void {
    this.accessNode(conn, node, 'write');
    try {
      this.adjustNodePerms(node);
      if (!noQuotaCheck && this.isUnprivileged(conn) && this.recordSize(node) >= this.quotas.nodeSize) fail('ENOSPC');
    } catch (error) {
      if (conn?.transaction) conn.transaction.fail = true;
      throw error;
    }
    const trans = conn?.transaction;
    if (trans) trans.accessed.get(node.name)!.copy = toRecord(node);
    else this.nodes.set(node.name, toRecord(node));
  }

  private deleteNodeRecord(conn: Connection | undefined, node: Node): void {
    if (!conn?.transaction) this.nodes.delete(node.name);
  }

  // ---- permissions ---------------------------------------------------------------------------

  private permForConn(conn: Connection | undefined, perms: readonly Perm[]): number {
    const mask = PERM_READ | PERM_WRITE | PERM_OWNER;
    const owner = perms[0]!;
    if (!this.isUnprivileged(conn) || owner.id === conn!.id || (conn!.target && owner.id === conn!.target.id)) {
      return mask;
    }
    for (let i = 1; i < perms.length; i++) {
      const p = perms[i]!;
      if (!(p.perms & PERM_IGNORE) && (p.id === conn!.id || (conn!.target && p.id === conn!.target.id))) return p.perms & mask;
    }
    return owner.perms & mask;
  }

  /** domain_adjust_node_perms(): entries naming domains younger than the node (or gone) are ignored. */
  private adjustNodePerms(node: NodeRecord): void {
    for (let i = 1; i < node.perms.length; i++) {
      const p = node.perms[i]!;
      if (p.perms & PERM_IGNORE) continue;
      const d = this.domains.get(p.id);
      if (!(d && d.generation <= node.generation)) p.perms |= PERM_IGNORE;
    }
  }

  /** domain_alloc_permrefs(): entries naming domains absent from Xen are marked IGNORE. */
  private allocPermRefs(perms: Perm[]): void {
    for (const p of perms) {
      if (!this.domains.has(p.id)) {
        if (!this.xenHas(p.id)) p.perms |= PERM_IGNORE;
        else this.allocDomain(p.id);
      }
    }
  }

  private askParents(conn: Connection | undefined, name: string): number {
    let node: Node | undefined;
    let current = name;
    do {
      current = parentName(current);
      node = this.tryReadNode(conn, current);
      if (node) break;
    } while (current !== '/');
    return node ? this.permForConn(conn, node.perms) : PERM_NONE;
  }

  private errnoFromParents(conn: Connection | undefined, name: string, errnum: WireErrno, perm: number): WireErrno {
    if (errnum === 'ENOMEM') return errnum;
    const parentPerm = this.askParents(conn, name);
    return parentPerm & perm ? errnum : 'EACCES';
  }

  /** get_node(): validity, read, permission check, and errno hiding. */
  private getNode(conn: Connection, name: string | undefined, perm: number): Node {
    if (name === undefined || !this.isValidNodename(name, conn)) fail('EINVAL');
    let errno: WireErrno;
    try {
      const node = this.readNode(conn, name);
      if ((this.permForConn(conn, node.perms) & perm) === perm) return node;
      errno = 'EACCES';
    } catch (error) {
      if (!(error instanceof XsFail)) throw error;
      errno = error.errno;
    }
    if (errno === 'ENOMEM' || errno === 'ENOSPC') fail(errno);
    fail(this.errnoFromParents(conn, name, errno, perm));
  }

  private isValidNodename(name: string, conn?: Connection): boolean {
    if (!name.startsWith('/')) return false;
    if (name.endsWith('/') && name !== '/') return false;
    if (name.includes('//')) return false;
    // sscanf("/local/domain/%5u/%n"): up to 5 digits, then '/'.
    const m = /^\/local\/domain\/\s*[+]?(\d{1,5})\//.exec(name);
    const localOff = m ? m[0].length : 0;
    const checked = this.version === '4.17' || this.isUnprivileged(conn);
    if (checked && name.length > localOff + this.quotas.pathMax) return false;
    return /^[A-Za-z0-9\-/_@]*$/.test(name);
  }

  private implicitPath(conn: Connection): string {
    return `/local/domain/${conn.domain ? conn.domain.domid : 0}`;
  }

  private canonicalize(conn: Connection, name: string | undefined): string | undefined {
    if (name === undefined || name.startsWith('/') || name.startsWith('@')) return name;
    return `${this.implicitPath(conn)}/${name}`;
  }

  // ---- node creation and removal --------------------------------------------------------------

  private constructNode(conn: Connection, name: string): Node {
    const names: string[] = [];
    let parentName_ = name;
    let parent: Node | undefined;
    while (!parent) {
      names.push(parentName_);
      parentName_ = parentName(parentName_);
      try {
        parent = this.readNode(conn, parentName_);
      } catch (error) {
        if (!(error instanceof XsFail) || error.errno !== 'ENOENT' || parentName_ === '/') throw error;
      }
    }
    let node: Node = parent;
    for (let level = names.length; level > 0; level--) {
      const childName = names[level - 1]!;
      parent.children.push(basename(childName));
      const perms = parent.perms.map((p) => ({ ...p }));
      if (this.isUnprivileged(conn)) perms[0]!.id = conn.id;
      node = { name: childName, data: Buffer.alloc(0), children: [], perms, generation: 0, parent };
      parent = node;
    }
    return node;
  }

  private createNode(conn: Connection, name: string, data: Buffer): Node {
    const node = this.constructNode(conn, name);
    if (conn.transaction) conn.transaction.nodeCreated = true;
    node.data = data;
    const written: Node[] = [];
    try {
      for (let i: Node | undefined = node; i; i = i.parent) {
        if (i.parent && this.domainEntry(conn) >= this.quotas.nodes) fail('ENOSPC');
        this.writeNode(conn, i, false);
        written.push(i);
        if (i.parent) this.domainEntryInc(conn, i);
      }
    } catch (error) {
      for (const j of written) {
        if (!j.parent) continue;
        this.deleteNodeRecord(conn, j);
        this.domainEntryDec(conn, j);
        if (conn.transaction) conn.transaction.fail = true;
      }
      throw error;
    }
    return node;
  }

  /** rm_node(): removes `name` and its subtree, firing watches bottom-up, then unlinks it from its parent. */
  private rmNode(conn: Connection | undefined, name: string): void {
    let parent: Node;
    try {
      parent = this.readNode(conn, parentName(name));
    } catch (error) {
      if (error instanceof XsFail && (error.errno === 'ENOMEM' || error.errno === 'ENOSPC')) throw error;
      fail('EINVAL');
    }
    const walk = (nodeName: string): void => {
      const node = this.tryReadNode(conn, nodeName);
      if (!node) return;
      for (const child of node.children) walk(joinName(nodeName, child));
      // delnode_sub()
      const deleting = this.accessNode(conn, node, 'delete');
      if (deleting) this.deleteNodeRecord(conn, node);
      this.fireWatches(conn, node.name, node, node.name !== name, undefined);
      this.domainEntryDec(conn, node);
    };
    walk(name);
    const base = basename(name);
    const index = parent.children.indexOf(base);
    if (index < 0) fail('EIO');
    parent.children.splice(index, 1);
    this.writeNode(conn, parent, true);
  }

  // ---- domain entry accounting ----------------------------------------------------------------

  private domainEntry(conn: Connection): number {
    return this.isUnprivileged(conn) ? this.nbentry.get(conn.domain!.domid) ?? 0 : 0;
  }

  private domainEntryInc(conn: Connection | undefined, node: Node): void {
    const domid = node.perms[0]!.id;
    if (conn?.transaction) {
      const m = conn.transaction.changedDomains;
      m.set(domid, (m.get(domid) ?? 0) + 1);
    } else {
      this.findOrAllocExistingDomain(domid);
      this.nbentry.set(domid, (this.nbentry.get(domid) ?? 0) + 1);
    }
  }

  private domainEntryDec(conn: Connection | undefined, node: Node): void {
    if (!node.perms.length) return;
    const domid = node.perms[0]!.id;
    if (conn?.transaction) {
      const m = conn.transaction.changedDomains;
      m.set(domid, (m.get(domid) ?? 0) - 1);
    } else {
      this.nbentry.set(domid, (this.nbentry.get(domid) ?? 0) - 1);
    }
  }

  // ---- watches --------------------------------------------------------------------------------

  private fireWatches(conn: Connection | undefined, name: string, node: Node | undefined, exact: boolean, oldPerms: Perm[] | undefined): void {
    const trans = conn?.transaction;
    if (conn && trans) {
      const entry = trans.accessed.get(name);
      if (!entry) {
        trans.fail = true;
        return;
      }
      if (!entry.fireWatch) {
        entry.fireWatch = true;
        entry.watchExact = exact;
      } else if (!exact) entry.watchExact = false;
      return;
    }
    for (const i of [...this.connections]) {
      if (name.startsWith('@')) {
        if (!this.checkPermsSpecial(name, i)) continue;
      } else if (!this.watchPermitted(i, name, node, oldPerms)) continue;
      for (const watch of i.watches) {
        if (exact ? name === watch.node : isChild(name, watch.node)) this.sendEvent(i, watchPath(watch, name), watch.token);
      }
    }
  }

  private watchPermitted(conn: Connection, name: string, node: Node | undefined, oldPerms: Perm[] | undefined): boolean {
    if (oldPerms && this.permForConn(conn, oldPerms) & PERM_READ) return true;
    const saved = conn.transaction;
    conn.transaction = undefined;
    try {
      const n = node ?? this.tryReadNode(conn, name);
      if (!n) return false;
      if (this.permForConn(conn, n.perms) & PERM_READ) return true;
      const parent = n.parent ?? this.tryReadNode(conn, parentName(n.name));
      if (!parent) return false;
      return (this.permForConn(conn, parent.perms) & PERM_READ) !== 0;
    } finally {
      conn.transaction = saved;
    }
  }

  private specialPerms(name: string): Perm[] | undefined {
    if (name === '@releaseDomain') return this.releasePerms;
    if (name === '@introduceDomain') return this.introducePerms;
    return undefined;
  }

  private checkPermsSpecial(name: string, conn: Connection): boolean {
    const perms = this.specialPerms(name);
    return perms ? (this.permForConn(conn, perms) & PERM_READ) !== 0 : false;
  }

  // ---- handlers -------------------------------------------------------------------------------

  /** @internal */ doRead(conn: Connection, req: XsFrame): void {
    const node = this.getNode(conn, this.canonicalize(conn, onearg(req.payload)), PERM_READ);
    this.reply(conn, req, XsType.READ, node.data);
  }

  /** @internal */ doDirectory(conn: Connection, req: XsFrame): void {
    const node = this.getNode(conn, this.canonicalize(conn, onearg(req.payload)), PERM_READ);
    this.reply(conn, req, XsType.DIRECTORY, childBytes(node.children));
  }

  /** @internal */ doDirectoryPart(conn: Connection, req: XsFrame): void {
    if (countStrings(req.payload) !== 2) fail('EINVAL');
    const [name, offText] = splitStrings(req.payload) as [string, string];
    const node = this.getNode(conn, this.canonicalize(conn, name), PERM_READ);
    const off = atoi(offText) >>> 0;
    const children = childBytes(node.children);
    const gen = Buffer.from(`${node.generation}\0`);
    if (off >= children.length) return this.reply(conn, req, XsType.DIRECTORY_PART, Buffer.concat([gen, Buffer.from([0])]));
    const maxlen = PAYLOAD_MAX - gen.length - 1;
    let len = 0;
    let pos = off;
    for (;;) {
      const end = children.indexOf(0, pos);
      const strlen = (end < 0 ? children.length : end) - pos;
      if (!(len + strlen < maxlen)) break;
      len += strlen + 1;
      pos += strlen + 1;
      if (off + len === children.length) break;
    }
    const parts = [gen, children.subarray(off, off + len)];
    if (off + len === children.length) parts.push(Buffer.from([0]));
    this.reply(conn, req, XsType.DIRECTORY_PART, Buffer.concat(parts));
  }

  /** @internal */ doGetPerms(conn: Connection, req: XsFrame): void {
    const arg = onearg(req.payload);
    if (this.version === '4.20' && arg?.startsWith('@') && /^[A-Za-z0-9\-/_@]*$/.test(arg)) {
      const perms = this.specialPerms(arg);
      if (!perms) fail(this.askParents(conn, arg) & PERM_READ ? 'ENOENT' : 'EACCES');
      if (!(this.permForConn(conn, perms) & PERM_READ)) fail('EACCES');
      return this.reply(conn, req, XsType.GET_PERMS, Buffer.from(perms.map((p) => `${permLetter(p.perms)}${p.id | 0}\0`).join('')));
    }
    const node = this.getNode(conn, this.canonicalize(conn, arg), PERM_READ);
    this.reply(conn, req, XsType.GET_PERMS, Buffer.from(node.perms.map((p) => `${permLetter(p.perms)}${p.id | 0}\0`).join('')));
  }

  /** @internal */ doWrite(conn: Connection, req: XsFrame): void {
    const nul = req.payload.indexOf(0);
    if (nul < 0) fail('EINVAL');
    const rawName = req.payload.toString('utf8', 0, nul);
    const data = Buffer.from(req.payload.subarray(nul + 1));
    const name = this.canonicalize(conn, rawName)!;
    let node: Node;
    try {
      node = this.getNode(conn, name, PERM_WRITE);
      node.data = data;
      this.writeNode(conn, node, false);
    } catch (error) {
      if (!(error instanceof XsFail) || error.errno !== 'ENOENT') throw error;
      node = this.createNode(conn, name, data);
    }
    this.fireWatches(conn, name, node, false, undefined);
    this.ack(conn, req);
  }

  /** @internal */ doMkdir(conn: Connection, req: XsFrame): void {
    const name = this.canonicalize(conn, onearg(req.payload));
    try {
      this.getNode(conn, name, PERM_WRITE);
    } catch (error) {
      if (!(error instanceof XsFail) || error.errno !== 'ENOENT') throw error;
      const node = this.createNode(conn, name!, Buffer.alloc(0));
      this.fireWatches(conn, name!, node, false, undefined);
    }
    this.ack(conn, req);
  }

  /** @internal */ doRm(conn: Connection, req: XsFrame): void {
    const name = this.canonicalize(conn, onearg(req.payload));
    try {
      this.getNode(conn, name, PERM_WRITE);
    } catch (error) {
      if (!(error instanceof XsFail) || error.errno !== 'ENOENT') throw error;
      // Didn't exist already? Fine, if the parent exists.
      try {
        this.readNode(conn, parentName(name!));
      } catch (parentError) {
        if (parentError instanceof XsFail && (parentError.errno === 'ENOMEM' || parentError.errno === 'ENOSPC')) throw parentError;
        fail('ENOENT');
      }
      return this.ack(conn, req);
    }
    if (name === '/') fail('EINVAL');
    this.rmNode(conn, name!);
    this.ack(conn, req);
  }

  /** @internal */ doSetPerms(conn: Connection, req: XsFrame): void {
    let num = countStrings(req.payload);
    if (num < 2) fail('EINVAL');
    num--;
    if (this.isUnprivileged(conn) && num > this.quotas.permissions) fail('ENOSPC');
    const strings = splitStrings(req.payload);
    const rawName = strings[0]!;
    const perms = parsePermStrings(strings.slice(1, 1 + num));
    this.allocPermRefs(perms);
    if (perms[0]!.perms & PERM_IGNORE) fail('ENOENT');
    if (rawName.startsWith('@')) {
      const current = this.specialPerms(rawName);
      if (this.version === '4.20') {
        if (!/^[A-Za-z0-9\-/_@]*$/.test(rawName)) fail('EINVAL');
        if (!current) fail(this.askParents(conn, rawName) & PERM_WRITE ? 'ENOENT' : 'EACCES');
      }
      if (!current) fail('EINVAL');
      if ((this.permForConn(conn, current) & (PERM_WRITE | PERM_OWNER)) !== (PERM_WRITE | PERM_OWNER)) fail('EACCES');
      if (this.version === '4.20' && this.isUnprivileged(conn) && perms[0]!.id !== current[0]!.id) fail('EPERM');
      if (rawName === '@releaseDomain') this.releasePerms = perms;
      else this.introducePerms = perms;
      if (this.version === '4.20') this.fireWatches(undefined, rawName, undefined, false, current);
      return this.ack(conn, req);
    }
    const name = this.canonicalize(conn, rawName)!;
    const node = this.getNode(conn, name, PERM_WRITE | PERM_OWNER);
    if (this.isUnprivileged(conn) && perms[0]!.id !== node.perms[0]!.id) fail('EPERM');
    const oldPerms = node.perms;
    this.domainEntryDec(conn, node);
    node.perms = perms;
    this.domainEntryInc(conn, node);
    try {
      this.writeNode(conn, node, false);
    } catch (error) {
      this.domainEntryDec(conn, node);
      node.perms = oldPerms;
      this.domainEntryInc(conn, node);
      throw error;
    }
    this.fireWatches(conn, name, node, false, oldPerms);
    this.ack(conn, req);
  }

  /** @internal */ doWatch(conn: Connection, req: XsFrame): void {
    if (countStrings(req.payload) !== 2) fail('EINVAL');
    let [path, token] = splitStrings(req.payload) as [string, string];
    let relative: boolean;
    if (path.startsWith('@')) {
      relative = false;
      if (path.length > REL_PATH_MAX) fail('EINVAL');
    } else {
      relative = !path.startsWith('/');
      path = this.canonicalize(conn, path)!;
      if (!this.isValidNodename(path, conn)) fail('EINVAL');
    }
    if (conn.watches.some((w) => w.node === path && w.token === token)) fail('EEXIST');
    if (this.isUnprivileged(conn) && conn.watches.length > this.quotas.watches) fail('E2BIG');
    const watch: Watch = { node: path, token, relativePath: relative ? this.implicitPath(conn) : undefined };
    conn.watches.push(watch);
    this.ack(conn, req);
    this.sendEvent(conn, watchPath(watch, watch.node), token);
  }

  /** @internal */ doUnwatch(conn: Connection, req: XsFrame): void {
    if (countStrings(req.payload) !== 2) fail('EINVAL');
    const [rawPath, token] = splitStrings(req.payload) as [string, string];
    const path = this.canonicalize(conn, rawPath);
    if (this.version === '4.20' && !rawPath.startsWith('@') && !this.isValidNodename(path!, conn)) fail('EINVAL');
    const index = conn.watches.findIndex((w) => w.node === path && w.token === token);
    if (index < 0) fail('ENOENT');
    conn.watches.splice(index, 1);
    this.ack(conn, req);
  }

  /** @internal */ doTransactionStart(conn: Connection, req: XsFrame): void {
    if (conn.transaction) fail('EBUSY');
    if (this.isUnprivileged(conn) && conn.transactions.size > this.quotas.transactions) fail('ENOSPC');
    let id: number;
    do {
      id = conn.nextTransactionId;
      conn.nextTransactionId = (conn.nextTransactionId + 1) >>> 0;
    } while (id === 0 || conn.transactions.has(id));
    const trans: Transaction = { id, generation: ++this.generation, accessed: new Map(), changedDomains: new Map(), nodeCreated: false, fail: false };
    conn.transactions.set(id, trans);
    this.reply(conn, req, XsType.TRANSACTION_START, Buffer.from(`${id}\0`));
  }

  /** @internal */ doTransactionEnd(conn: Connection, req: XsFrame): void {
    const arg = onearg(req.payload);
    if (arg !== 'T' && arg !== 'F') fail('EINVAL');
    const trans = conn.transaction;
    if (!trans) fail('ENOENT');
    conn.transaction = undefined;
    conn.transactions.delete(trans.id);
    if (arg === 'T') {
      if (trans.fail) fail('ENOMEM');
      const chkQuota = trans.nodeCreated && this.isUnprivileged(conn);
      for (const [domid, delta] of trans.changedDomains) {
        const cnt = Math.max(0, (this.nbentry.get(domid) ?? 0) + delta);
        if (chkQuota && domid !== 0 && cnt >= this.quotas.nodes) fail('ENOSPC');
      }
      this.finalizeTransaction(conn, trans);
      for (const [domid, delta] of trans.changedDomains) {
        this.findOrAllocExistingDomain(domid);
        this.nbentry.set(domid, Math.max(0, (this.nbentry.get(domid) ?? 0) + delta));
      }
    }
    this.ack(conn, req);
  }

  private finalizeTransaction(conn: Connection, trans: Transaction): void {
    for (const [name, entry] of trans.accessed) {
      if (entry.checkGen) {
        const current = this.nodes.get(name);
        const gen = current ? current.generation : NO_GENERATION;
        if (entry.generation !== gen) fail('EAGAIN');
      }
    }
    for (const [name, entry] of trans.accessed) {
      if (!entry.modified) continue;
      if (entry.copy) {
        this.nodes.set(name, { ...entry.copy, children: [...entry.copy.children], perms: entry.copy.perms.map((p) => ({ ...p })), generation: ++this.generation });
      } else {
        this.nodes.delete(name);
      }
      if (entry.fireWatch) this.fireWatches(undefined, name, undefined, entry.watchExact, entry.perms);
    }
  }

  /** @internal */ doIntroduce(conn: Connection, req: XsFrame): void {
    const strings = splitStrings(req.payload);
    if (strings.length < 3) fail('EINVAL');
    const domid = atoi(strings[0]!) >>> 0;
    const port = atoi(strings[2]!);
    if (port <= 0) fail('EINVAL');
    let domain = this.domains.get(domid);
    if (!domain || !domain.introduced) {
      if (!this.xenHas(domid)) fail('EINVAL'); // the ring cannot be mapped
      domain ??= this.allocDomain(domid);
      domain.introduced = true;
      domain.shutdown = false;
      domain.port = port;
      domain.conn = new Connection(domid, domain);
      this.connections.push(domain.conn);
      if (domid !== 0) this.fireWatches(undefined, '@introduceDomain', undefined, true, undefined);
    } else {
      domain.port = port;
    }
    // domain_conn_reset(): drops the domain connection's watches and transactions.
    if (domain.conn) {
      domain.conn.watches.length = 0;
      domain.conn.transactions.clear();
    }
    this.ack(conn, req);
  }

  private connectedDomain(domid: number): Domain {
    const domain = this.domains.get(domid);
    if (!domain || !domain.introduced) fail('ENOENT');
    if (!domain.conn) fail('EINVAL');
    return domain;
  }

  private oneargDomain(req: XsFrame): Domain {
    const arg = onearg(req.payload);
    if (arg === undefined) fail('EINVAL');
    const domid = atoi(arg) >>> 0;
    if (!domid) fail('EINVAL');
    return this.connectedDomain(domid);
  }

  /** @internal */ doRelease(conn: Connection, req: XsFrame): void {
    const domain = this.oneargDomain(req);
    this.destroyDomain(domain);
    this.ack(conn, req);
  }

  /** @internal */ doResume(conn: Connection, req: XsFrame): void {
    this.oneargDomain(req).shutdown = false;
    this.ack(conn, req);
  }

  /** @internal */ doGetDomainPath(conn: Connection, req: XsFrame): void {
    const arg = onearg(req.payload);
    if (arg === undefined) fail('EINVAL');
    this.reply(conn, req, XsType.GET_DOMAIN_PATH, Buffer.from(`/local/domain/${atoi(arg) >>> 0}\0`));
  }

  /** @internal */ doIsDomainIntroduced(conn: Connection, req: XsFrame): void {
    const arg = onearg(req.payload);
    if (arg === undefined) fail('EINVAL');
    const domid = atoi(arg) >>> 0;
    const result = domid === DOMID_SELF || (this.domains.get(domid)?.introduced ?? false);
    this.reply(conn, req, XsType.IS_DOMAIN_INTRODUCED, Buffer.from(result ? 'T\0' : 'F\0'));
  }

  /** @internal */ doSetTarget(conn: Connection, req: XsFrame): void {
    const strings = splitStrings(req.payload);
    if (strings.length < 2) fail('EINVAL');
    const domain = this.connectedDomain(atoi(strings[0]!) >>> 0);
    const target = this.connectedDomain(atoi(strings[1]!) >>> 0);
    domain.conn!.target = target.conn;
    this.ack(conn, req);
  }

  /** @internal */ doResetWatches(conn: Connection, req: XsFrame): void {
    conn.watches.length = 0;
    conn.transactions.clear();
    this.ack(conn, req);
  }

  /** @internal */ doControl(conn: Connection, req: XsFrame): void {
    const strings = splitStrings(req.payload);
    const cmd = strings[0];
    if (cmd === undefined) fail('EINVAL');
    const args = strings.slice(1);
    const ok = () => this.ack(conn, req);
    const text = (s: string) => this.reply(conn, req, XsType.CONTROL, Buffer.from(`${s}\0`));
    switch (cmd) {
      case 'check':
        if (args.length) fail('EINVAL');
        this.checkStore();
        return ok();
      case 'log':
        if (args.length !== 1 || (args[0] !== 'on' && args[0] !== 'off')) fail('EINVAL');
        return ok();
      case 'print':
        if (args.length !== 1) fail('EINVAL');
        return ok();
      case 'quota': {
        if (args.length) fail('EINVAL');
        const q = this.quotas;
        return text(
          [`Nodes per domain: ${q.nodes}`, `Watches per domain: ${q.watches}`, `Transactions per domain: ${q.transactions}`,
            `Max. size of a node: ${q.nodeSize}`, `Max. length of a node path: ${q.pathMax}`, `Max. number of permissions per node: ${q.permissions}`]
            .map((l) => `${l}\n`).join(''),
        );
      }
      case 'help':
        if (args.length) fail('EINVAL');
        return text('check\t\nlog\ton|off\nprint\t<string>\nquota\t[set <name> <val>|<domid>]\nhelp\t\n');
      default:
        fail('EINVAL');
    }
  }

  // ---- inspection (tests, simulator) ----------------------------------------------------------

  /**
   * What xen-init-dom0 writes at boot (tools/helpers/xen-init-dom0.c): /local/domain/0/domid = "0",
   * /local/domain/0/name = "Domain-0", /local/pool/0/name = "Pool-0". Idempotent.
   */
  initDom0(): void {
    const put = (path: string, value: string) => {
      const parts = path.split('/').filter(Boolean);
      let parent = '/';
      for (const part of parts) {
        const name = joinName(parent, part);
        if (!this.nodes.has(name)) {
          const rec = this.nodes.get(parent)!;
          rec.children.push(part);
          rec.generation = ++this.generation;
          this.nodes.set(name, { data: Buffer.alloc(0), children: [], perms: rec.perms.map((p) => ({ ...p })), generation: ++this.generation });
          this.nbentry.set(0, (this.nbentry.get(0) ?? 0) + 1);
        }
        parent = name;
      }
      const rec = this.nodes.get(path)!;
      rec.data = Buffer.from(value);
      rec.generation = ++this.generation;
    };
    put('/local/domain/0/domid', '0');
    put('/local/domain/0/name', 'Domain-0');
    put('/local/pool/0/name', 'Pool-0');
  }

  /**
   * Checks the tree's invariants: every child listed exists, every node but "/" is listed by its
   * parent, owner entries exist. Returns the problems found (empty when consistent).
   */
  checkStore(): string[] {
    const problems: string[] = [];
    for (const [name, rec] of this.nodes) {
      if (!rec.perms.length) problems.push(`${name}: no permissions`);
      for (const child of rec.children) if (!this.nodes.has(joinName(name, child))) problems.push(`${name}: lists missing child ${child}`);
      if (new Set(rec.children).size !== rec.children.length) problems.push(`${name}: duplicate children`);
      if (name !== '/') {
        const parent = this.nodes.get(parentName(name));
        if (!parent || !parent.children.includes(basename(name))) problems.push(`${name}: not listed by its parent`);
      }
    }
    return problems;
  }

  /** Number of nodes in the store. */
  get size(): number {
    return this.nodes.size;
  }

  /** Direct read for tests and the simulator (no permissions, no transaction). */
  peek(path: string): string | undefined {
    return this.nodes.get(path)?.data.toString('utf8');
  }

  /** Number of open connections. */
  get connectionCount(): number {
    return this.connections.length;
  }
}

type Handler = { fn: (this: MemoryXenstore, conn: Connection, req: XsFrame) => void; priv?: boolean; noTid?: boolean };
const P = MemoryXenstore.prototype;
/** wire_funcs[] of xenstored_core.c. */
const HANDLERS: Partial<Record<number, Handler>> = {
  [XsType.CONTROL]: { fn: P.doControl, priv: true },
  [XsType.DIRECTORY]: { fn: P.doDirectory },
  [XsType.READ]: { fn: P.doRead },
  [XsType.GET_PERMS]: { fn: P.doGetPerms },
  [XsType.WATCH]: { fn: P.doWatch, noTid: true },
  [XsType.UNWATCH]: { fn: P.doUnwatch, noTid: true },
  [XsType.TRANSACTION_START]: { fn: P.doTransactionStart },
  [XsType.TRANSACTION_END]: { fn: P.doTransactionEnd },
  [XsType.INTRODUCE]: { fn: P.doIntroduce, priv: true },
  [XsType.RELEASE]: { fn: P.doRelease, priv: true },
  [XsType.GET_DOMAIN_PATH]: { fn: P.doGetDomainPath },
  [XsType.WRITE]: { fn: P.doWrite },
  [XsType.MKDIR]: { fn: P.doMkdir },
  [XsType.RM]: { fn: P.doRm },
  [XsType.SET_PERMS]: { fn: P.doSetPerms },
  [XsType.IS_DOMAIN_INTRODUCED]: { fn: P.doIsDomainIntroduced, priv: true },
  [XsType.RESUME]: { fn: P.doResume, priv: true },
  [XsType.SET_TARGET]: { fn: P.doSetTarget, priv: true },
  [XsType.RESET_WATCHES]: { fn: P.doResetWatches },
  [XsType.DIRECTORY_PART]: { fn: P.doDirectoryPart },
};

function toRecord(node: NodeRecord): NodeRecord {
  return { data: node.data, children: [...node.children], perms: node.perms.map((p) => ({ ...p })), generation: node.generation };
}

function parentName(name: string): string {
  const slash = name.lastIndexOf('/');
  return slash <= 0 ? '/' : name.slice(0, slash);
}

function basename(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

function joinName(parent: string, child: string): string {
  return parent === '/' ? `/${child}` : `${parent}/${child}`;
}

function isChild(child: string, parent: string): boolean {
  if (parent === '/') return true;
  if (!child.startsWith(parent)) return false;
  const next = child[parent.length];
  return next === '/' || next === undefined;
}

function watchPath(watch: Watch, name: string): string {
  if (!watch.relativePath) return name;
  let path = name.slice(watch.relativePath.length);
  if (path.startsWith('/')) path = path.slice(1);
  return path;
}

/** onearg(): the payload must hold exactly one NUL, at its end. */
function onearg(payload: Buffer): string | undefined {
  if (!payload.length || payload.indexOf(0) !== payload.length - 1) return undefined;
  return payload.toString('utf8', 0, payload.length - 1);
}

function childBytes(children: readonly string[]): Buffer {
  return Buffer.from(children.map((c) => `${c}\0`).join(''), 'utf8');
}

/** C atoi(): optional whitespace and sign, then digits; 0 when there are none. */
function atoi(text: string): number {
  const m = /^[\s]*([+-]?\d+)/.exec(text);
  if (!m) return 0;
  const n = Number(m[1]);
  return Number.isFinite(n) ? Math.trunc(n) | 0 : 0;
}

function permLetter(perms: number): string {
  switch (perms & ~PERM_IGNORE & 3) {
    case PERM_WRITE: return 'w';
    case PERM_READ: return 'r';
    case PERM_READ | PERM_WRITE: return 'b';
    default: return 'n';
  }
}

/** xs_strings_to_perms(): letter, then strtol(base 0) consuming the rest of the string. */
function parsePermStrings(strings: readonly string[]): Perm[] {
  return strings.map((s) => {
    let perms: number;
    switch (s[0]) {
      case 'r': perms = PERM_READ; break;
      case 'w': perms = PERM_WRITE; break;
      case 'b': perms = PERM_READ | PERM_WRITE; break;
      case 'n': perms = PERM_NONE; break;
      default: fail('EINVAL');
    }
    const rest = s.slice(1);
    const id = strtolBase0(rest);
    if (id === undefined) fail('EINVAL');
    return { id, perms };
  });
}

/** strtol(s, &end, 0) where the whole string must be consumed; unsigned-int truncation of the result. */
function strtolBase0(s: string): number | undefined {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const digits = m[2]!;
  let value: bigint;
  if (/^0[xX]/.test(digits)) value = BigInt(digits);
  else if (digits.startsWith('0') && digits.length > 1) value = BigInt(`0o${digits.slice(1)}`);
  else value = BigInt(digits);
  if (m[1] === '-') value = -value;
  return Number(BigInt.asUintN(32, value));
}
