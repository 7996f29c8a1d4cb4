// Test doubles for device set-up without a Xen host: a HotplugHost that models loop devices, network
// interfaces and bridges as Linux would (losetup and ip answered from that model, stat and sysfs read
// from it), and dom0's backend drivers (blkback/netback) as far as the toolstack sees them in xenstore:
// InitWait when a backend appears, vif<domid>.<devid> made and removed with the vif backend, Closed
// after the toolstack asks for Closing.
import type { RunResult } from '../../image-tools/runner.js';
import type { HotplugHost } from '../../toolstack/devices/index.js';
import { XenstoreClient, type MemoryXenstore } from '../../xenstore/index.js';

export interface Iface {
  master?: string;
  up: boolean;
  mtu: number;
  /** The vif backend that made it (netback removes it with the backend). */
  owner?: string;
}

const ok = (stdout = ''): RunResult => ({ status: 0, stdout, stderr: '' });
const bad = (stderr: string): RunResult => ({ status: 1, stdout: '', stderr });

/** A host with files, block devices, loop devices, bridges and interfaces, driven by losetup and ip. */
export class FakeHost implements HotplugHost {
  readonly files = new Map<string, { kind: 'block' | 'file'; rdev: number }>();
  readonly loops = new Map<string, { backing: string; readOnly: boolean }>();
  readonly bridges = new Map<string, { mtu: number }>();
  readonly ifaces = new Map<string, Iface>();
  readonly calls: string[][] = [];
  /** Makes the matching command fail (failure injection). */
  failWhen: ((argv: readonly string[]) => boolean) | undefined;
  /** Called before each command (a test can hold a command back to observe concurrency). */
  beforeRun: ((argv: readonly string[]) => Promise<void>) | undefined;

  constructor(opts: { files?: Record<string, 'file' | { block: number }>; bridges?: string[] } = {}) {
    for (const [path, kind] of Object.entries(opts.files ?? {})) this.files.set(path, kind === 'file' ? { kind: 'file', rdev: 0 } : { kind: 'block', rdev: kind.block });
    for (const b of opts.bridges ?? []) this.bridges.set(b, { mtu: 1500 });
  }

  readonly runner = {
    run: async (argv: readonly string[]): Promise<RunResult> => {
      this.calls.push([...argv]);
      await this.beforeRun?.(argv);
      if (this.failWhen?.(argv)) return bad(`injected failure of ${argv.join(' ')}`);
      if (argv[0] === 'losetup') return this.losetup(argv.slice(1));
      if (argv[0] === 'ip' && argv[1] === 'link' && argv[2] === 'set' && argv[3] === 'dev') return this.ipLinkSet(argv[4]!, argv.slice(5));
      return bad(`fake host: unknown command ${argv.join(' ')}`);
    },
  };

  private losetup(args: readonly string[]): RunResult {
    if (args[0] === '-d') {
      const node = args[1]!;
      if (!this.loops.delete(node)) return bad(`losetup: ${node}: detach failed: No such device or address`);
      this.files.delete(node);
      return ok();
    }
    if (args[0] === '-f' && args[1] === '--show') {
      const readOnly = args[2] === '-r';
      const file = args[readOnly ? 3 : 2]!;
      if (this.files.get(file)?.kind !== 'file') return bad(`losetup: ${file}: failed to set up loop device: No such file or directory`);
      let n = 0;
      while (this.loops.has(`/dev/loop${n}`)) n++;
      const node = `/dev/loop${n}`;
      this.loops.set(node, { backing: file, readOnly });
      this.files.set(node, { kind: 'block', rdev: (7 << 8) | n });
      return ok(`${node}\n`);
    }
    return bad(`fake losetup: unsupported ${args.join(' ')}`);
  }

  /** `ip link set dev DEV` with one or more settings (name N, mtu M, master B, nomaster, up, down). */
  private ipLinkSet(dev: string, args: readonly string[]): RunResult {
    let name = dev;
    for (let i = 0; i < args.length; i++) {
      const iface = this.ifaces.get(name);
      if (!iface) return bad(`Cannot find device "${name}"`);
      const what = args[i];
      const value = args[i + 1];
      switch (what) {
        case 'name':
          this.ifaces.delete(name);
          this.ifaces.set(value!, iface);
          name = value!;
          i++;
          break;
        case 'mtu': iface.mtu = Number(value); i++; break;
        case 'master':
          if (!this.bridges.has(value!)) return bad(`Cannot find device "${value}"`);
          iface.master = value!;
          i++;
          break;
        case 'nomaster': delete iface.master; break;
        case 'up': iface.up = true; break;
        case 'down': iface.up = false; break;
        default: return bad(`fake ip: unsupported ${args.join(' ')}`);
      }
    }
    return args.length ? ok() : bad('fake ip: nothing to set');
  }

  async statPath(path: string): Promise<{ kind: 'block' | 'file' | 'other'; rdev: number } | undefined> {
    return this.files.get(path);
  }

  async readSys(path: string): Promise<string | undefined> {
    let m = /^\/sys\/class\/net\/([^/]+)\/(bridge\/bridge_id|mtu|ifindex)$/.exec(path);
    if (m) {
      const bridge = this.bridges.get(m[1]!);
      const iface = this.ifaces.get(m[1]!);
      if (m[2] === 'bridge/bridge_id') return bridge ? '8000.fe0000000000' : undefined;
      if (m[2] === 'mtu') return bridge ? String(bridge.mtu) : iface ? String(iface.mtu) : undefined;
      return bridge || iface ? '7' : undefined;
    }
    m = /^\/sys\/block\/(loop[0-9]+)\/loop\/backing_file$/.exec(path);
    if (m) return this.loops.get(`/dev/${m[1]!}`)?.backing;
    return undefined;
  }

  /** Interfaces that are bridge ports (what must not be left behind). */
  bridgePorts(): string[] {
    return [...this.ifaces].filter(([, i]) => i.master !== undefined).map(([n]) => n);
  }
}

/** How the fake backend drivers behave. */
export interface BackendDriverOptions {
  /** Kinds whose backend never reaches InitWait (driver not loaded). */
  readonly stuck?: readonly ('vbd' | 'vif')[];
  /** Whether the "guest" answers Closing with Closed (default true). */
  readonly cooperative?: boolean;
}

/**
 * dom0's blkback/netback as xenstore shows them: a new backend (state 1) goes to InitWait (2), a vif
 * backend makes vif<domid>.<devid> on the host; Closing (5) with online=0 becomes Closed (6); a removed
 * vif backend takes its interface with it. Returns a stop function.
 */
export async function startFakeBackends(mem: MemoryXenstore, host: FakeHost, opts: BackendDriverOptions = {}): Promise<() => Promise<void>> {
  const xs = XenstoreClient.overMemory(mem);
  const watch = xs.watch('/local/domain/0/backend', 'fake-backends');
  await watch.ready;
  const known = new Set<string>();
  const done = (async () => {
    try {
      for await (const event of watch) {
        const m = /^(\/local\/domain\/0\/backend\/(vbd|vif)\/([0-9]+)\/([0-9]+))(\/|$)/.exec(event.path);
        if (!m) continue;
        const [, backend, kindText, domid, devid] = m as unknown as [string, string, string, string, string];
        const kind = kindText === 'vbd' ? 'vbd' : 'vif';
        const state = await xs.tryRead(`${backend}/state`);
        if (state === undefined) {
          known.delete(backend);
          for (const [name, iface] of host.ifaces) if (iface.owner === backend) host.ifaces.delete(name);
          continue;
        }
        if (state === '1' && !opts.stuck?.includes(kind) && (await xs.tryRead(`${backend}/frontend`)) !== undefined) {
          if (kind === 'vif' && !known.has(backend)) host.ifaces.set(`vif${domid}.${devid}`, { up: false, mtu: 1500, owner: backend });
          known.add(backend);
          await xs.write(`${backend}/state`, '2');
        } else if (state === '5' && (await xs.tryRead(`${backend}/online`)) === '0' && opts.cooperative !== false) {
          await xs.write(`${backend}/state`, '6');
        }
      }
    } catch {
      // the connection closes at the end of the test
    }
  })();
  return async () => {
    await watch.close().catch(() => undefined);
    await xs.close();
    await done;
  };
}
