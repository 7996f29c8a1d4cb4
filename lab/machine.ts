// Boots real Xen under QEMU (TCG) and runs commands in its dom0 through the control agent.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { ensureLabImage, repoRoot, requireTools, type LabImage, type XenVersion } from './build.js';
import { LabError } from './errors.js';
import { encodeMessage, LineDecoder, type AgentMessage, type ExecRequest, type HostMessage } from './protocol.js';

/** A host file or folder made visible in dom0 (read-only, over 9p) at `labPath`. */
export interface LabShare {
  readonly hostPath: string;
  /** Absolute path in dom0; default: the same as hostPath. */
  readonly labPath?: string;
}

/** How to boot the lab. */
export interface BootOptions {
  readonly xen: XenVersion;
  /** Extra virtio disks, in order /dev/vdb, /dev/vdc... in dom0 (the root disk is /dev/vda). */
  readonly disks?: readonly { readonly hostPath: string; readonly readonly?: boolean }[];
  /** Host files or folders shown in dom0 (bind-mounted at labPath). */
  readonly shares?: readonly LabShare[];
  /**
   * Time allowed from QEMU start to the dom0 agent answering. Default: $TXL_LAB_BOOT_TIMEOUT seconds,
   * else 600 s (about 15 s on an idle 2-core host; a host shared with other emulators can be 20x slower).
   * Crashes and QEMU exits are reported at once, whatever this is.
   */
  readonly timeoutMs?: number;
  /**
   * QEMU memory (default 2048 MiB, at most MAX_LAB_MEMORY_MIB) and dom0's share (default 1024 MiB, or the
   * QEMU memory less 512 below 1536). What Xen does not give dom0 is free for guests.
   */
  readonly memoryMiB?: number;
  readonly dom0MemoryMiB?: number;
  /** Virtual CPUs (default 2). */
  readonly cpus?: number;
  /** The checkout shared at the same path in dom0 (default: this repository). */
  readonly checkout?: string;
  /** Build progress and boot milestones (the library never prints). */
  readonly onLog?: (line: string) => void;
  /** Every chunk of the serial console (Xen and dom0 kernel) as it arrives. */
  readonly onConsole?: (text: string) => void;
}

/** Options of one command. */
export interface ExecOptions {
  /** Killed (its whole process group) after this long; the call then rejects with TXL_LAB_TIMEOUT. */
  readonly timeoutMs?: number;
  readonly stdin?: string | Uint8Array;
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly onStdout?: (chunk: Buffer) => void;
  readonly onStderr?: (chunk: Buffer) => void;
}

/** What a finished command left. */
export interface ExecResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A command running in dom0 with an open stdin (for `txl lab shell`). */
export interface LabProcess {
  write(data: string | Uint8Array): void;
  end(): void;
  kill(signal?: string): void;
  /** Resolves with the status, or rejects on timeout, crash or shutdown. */
  readonly done: Promise<ExecResult>;
}

/** Options of an interactive command. */
export interface SpawnOptions extends ExecOptions {
  /** Run under a pseudo-terminal of this size. */
  readonly tty?: { readonly rows: number; readonly cols: number; readonly term?: string };
}

/** A booted lab (the contract in /work/team/CONTRACTS.md). */
export interface LabMachine {
  readonly xen: XenVersion;
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** The serial log so far (Xen and the dom0 kernel). */
  console(): string;
  /** Idempotent; always kills QEMU. */
  shutdown(): Promise<void>;
}

/** What bootLab returns: the contract's LabMachine plus interactive processes and a failure probe. */
export interface BootedLab extends LabMachine {
  /** Starts argv; with `stdinStream` its stdin stays open for write()/end(). */
  spawn(argv: string[], opts?: SpawnOptions, stdinStream?: boolean): LabProcess;
  /** Why the lab is no longer usable (crash, QEMU exit, shutdown), or undefined while it is. */
  failure(): LabError | undefined;
}

/** Lines on the serial console that mean Xen or dom0 is gone. Guest ("(dN)") lines never count. */
export function crashLine(line: string): boolean {
  if (/^\s*\(d[1-9]\d*\)/.test(line)) return false;
  return (
    /Kernel panic - not syncing/.test(line) ||
    /Hardware Dom0 crashed/.test(line) ||
    /Domain 0 \(vcpu#\d+\) crashed/.test(line) ||
    /\(XEN\) Panic on CPU/.test(line) ||
    /\(XEN\) \*+ Panic/.test(line)
  );
}

// Every QEMU this process started and has not yet reaped: killed on exit, whatever the reason.
const liveQemus = new Set<ChildProcess>();
let exitHooksInstalled = false;

function killAllQemus(): void {
  for (const child of liveQemus) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllQemus);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      killAllQemus();
      // Keep the default behaviour (exit by the signal) unless someone else handles it.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, handler);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, handler);
  }
}

/** How many QEMU processes this process has running (tests check it is 0 after shutdown). */
export function liveQemuCount(): number {
  return liveQemus.size;
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

interface Pending {
  readonly request: ExecRequest;
  readonly stdout: Buffer[];
  readonly stderr: Buffer[];
  readonly opts: ExecOptions;
  resolve(result: ExecResult): void;
  reject(error: Error): void;
  backstop?: NodeJS.Timeout;
}

const MAX_CONSOLE = 8 * 1024 * 1024;

class QemuLabMachine implements LabMachine {
  private consoleText = '';
  private consoleLine = '';
  private socket: Socket | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: LabError | undefined;
  private crashTimer: NodeJS.Timeout | undefined;
  private crashLines: string[] | undefined;
  private readyWaiters: ((m: AgentMessage) => void)[] = [];
  private shutdownPromise: Promise<void> | undefined;
  private exited: Promise<void>;

  constructor(
    readonly xen: XenVersion,
    private readonly qemu: ChildProcess,
    private readonly tmp: string,
    private readonly opts: BootOptions,
  ) {
    this.exited = new Promise((resolve) => {
      qemu.on('exit', (code, signal) => {
        liveQemus.delete(qemu);
        if (!this.dead) {
          this.fail(
            new LabError('TXL_LAB_QEMU', `QEMU exited (${signal ?? `status ${code}`}) while the Xen ${xen} lab was running; last console lines:\n${this.lastLines(25)}`),
          );
        }
        resolve();
      });
    });
    qemu.stdout?.on('data', (chunk: Buffer) => this.onSerial(chunk.toString('latin1')));
    qemu.stderr?.on('data', (chunk: Buffer) => this.onSerial(chunk.toString('latin1')));
  }

  console(): string {
    return this.consoleText;
  }

  /** Why the lab is no longer usable (crash, QEMU exit, shutdown), or undefined while it is. */
  failure(): LabError | undefined {
    return this.dead;
  }

  private lastLines(n: number): string {
    return this.consoleText.split('\n').slice(-n - 1).join('\n');
  }

  private onSerial(text: string): void {
    this.opts.onConsole?.(text);
    this.consoleText += text;
    if (this.consoleText.length > MAX_CONSOLE) this.consoleText = this.consoleText.slice(-MAX_CONSOLE / 2);
    this.consoleLine += text;
    let nl: number;
    while ((nl = this.consoleLine.indexOf('\n')) >= 0) {
      const line = this.consoleLine.slice(0, nl).replace(/\r$/, '');
      this.consoleLine = this.consoleLine.slice(nl + 1);
      if (this.crashLines) {
        if (this.crashLines.length < 40) this.crashLines.push(line);
      } else if (crashLine(line)) {
        this.crashLines = [line];
        // Collect what follows (the panic reason, a backtrace head) for a moment, then fail.
        this.crashTimer = setTimeout(() => this.onCrash(), 1500);
      }
    }
  }

  private onCrash(): void {
    const lines = this.crashLines ?? [];
    this.fail(new LabError('TXL_LAB_CRASH', `the Xen ${this.xen} lab crashed:\n${lines.join('\n')}`, { details: { xen: this.xen } }));
    void this.shutdown();
  }

  /** Rejects everything pending and refuses new calls with `error`. */
  private fail(error: LabError): void {
    if (this.dead) return;
    this.dead = error;
    for (const p of this.pending.values()) {
      clearTimeout(p.backstop);
      p.reject(error);
    }
    this.pending.clear();
  }

  /** Connects to the agent's socket and waits for its `ready`. */
  async connectAgent(socketPath: string, deadline: number): Promise<AgentMessage> {
    while (!existsSync(socketPath)) {
      if (this.dead) throw this.dead;
      if (Date.now() > deadline) throw this.bootTimeout();
      await sleep(50);
    }
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(socketPath);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    this.socket = socket;
    const decoder = new LineDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const message of decoder.push(chunk)) this.onAgent(message as AgentMessage);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (!this.dead) this.fail(new LabError('TXL_LAB_PROTOCOL', `the control channel to the Xen ${this.xen} lab closed`));
    });
    const ready = new Promise<AgentMessage>((resolve) => this.readyWaiters.push(resolve));
    for (;;) {
      if (this.dead) throw this.dead;
      if (Date.now() > deadline) throw this.bootTimeout();
      this.send({ t: 'hello' });
      const got = await Promise.race([ready, sleep(1000).then(() => undefined)]);
      if (got) return got;
    }
  }

  private bootTimeout(): LabError {
    const error = new LabError('TXL_LAB_BOOT_TIMEOUT', `the Xen ${this.xen} lab's dom0 did not answer in time; last console lines:\n${this.lastLines(30)}`);
    this.fail(error);
    return error;
  }

  private send(message: HostMessage): void {
    this.socket?.write(encodeMessage(message));
  }

  private onAgent(message: AgentMessage): void {
    switch (message.t) {
      case 'ready': {
        const waiters = this.readyWaiters;
        this.readyWaiters = [];
        for (const w of waiters) w(message);
        break;
      }
      case 'out': {
        const p = this.pending.get(message.id);
        if (!p) return;
        const data = Buffer.from(message.data, 'base64');
        if (message.fd === 1) {
          p.stdout.push(data);
          p.opts.onStdout?.(data);
        } else {
          p.stderr.push(data);
          p.opts.onStderr?.(data);
        }
        break;
      }
      case 'exit': {
        const p = this.pending.get(message.id);
        if (!p) return;
        this.pending.delete(message.id);
        clearTimeout(p.backstop);
        const stdout = Buffer.concat(p.stdout).toString('utf8');
        const stderr = Buffer.concat(p.stderr).toString('utf8');
        if (message.timedOut) {
          const limit = (p.request.timeoutMs ?? 0) / 1000;
          p.reject(
            new LabError('TXL_LAB_TIMEOUT', `'${p.request.argv.join(' ')}' ran past its ${limit} s limit in the Xen ${this.xen} lab and was killed`, {
              details: { stdout: stdout.slice(-4000), stderr: stderr.slice(-4000), timeoutSeconds: limit },
              exitCode: 124,
            }),
          );
        } else {
          p.resolve({ status: message.status, stdout, stderr });
        }
        break;
      }
      default:
        break;
    }
  }

  spawn(argv: string[], opts: SpawnOptions = {}, stdinStream = false): LabProcess {
    const id = this.nextId++;
    const request: ExecRequest = {
      t: 'exec',
      id,
      argv,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(opts.stdin !== undefined ? { stdin: Buffer.from(opts.stdin).toString('base64') } : {}),
      ...(stdinStream ? { stdinStream: true } : {}),
      ...(opts.tty ? { tty: opts.tty } : {}),
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    };
    const done = new Promise<ExecResult>((resolve, reject) => {
      if (this.dead) {
        reject(this.dead);
        return;
      }
      if (argv.length === 0) {
        reject(new LabError('TXL_LAB_USAGE', 'exec needs a command (argv is empty)'));
        return;
      }
      const entry: Pending = { request, stdout: [], stderr: [], opts, resolve, reject };
      if (opts.timeoutMs) {
        // The agent enforces the limit; this backstop covers an agent that stopped answering.
        entry.backstop = setTimeout(() => {
          this.pending.delete(id);
          reject(new LabError('TXL_LAB_TIMEOUT', `'${argv.join(' ')}' did not finish within ${opts.timeoutMs! / 1000} s and the dom0 agent did not answer`, { exitCode: 124 }));
        }, opts.timeoutMs + 15_000);
      }
      this.pending.set(id, entry);
      this.send(request);
    });
    return {
      write: (data) => this.send({ t: 'stdin', id, data: Buffer.from(data).toString('base64') }),
      end: () => this.send({ t: 'eof', id }),
      kill: (signal) => this.send({ t: 'kill', id, ...(signal ? { signal } : {}) }),
      done,
    };
  }

  exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.spawn(argv, opts).done;
  }

  shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      clearTimeout(this.crashTimer);
      this.fail(new LabError('TXL_LAB_SHUTDOWN', `the Xen ${this.xen} lab was shut down`));
      this.socket?.destroy();
      if (this.qemu.exitCode === null && this.qemu.signalCode === null) this.qemu.kill('SIGKILL');
      await this.exited;
      rmSync(this.tmp, { recursive: true, force: true });
    })();
    return this.shutdownPromise;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A word that can go on a kernel command line or in a QEMU option list unquoted. */
function checkPlainPath(path: string, what: string): void {
  if (!/^\/[A-Za-z0-9_@%+=:./-]*$/.test(path) || path.includes(',')) {
    throw new LabError('TXL_LAB_USAGE', `${what} '${path}' has characters the lab cannot pass to QEMU (spaces or commas)`, {
      hint: 'use a path of letters, digits and ._-+@%=:/',
    });
  }
}

/** Largest QEMU memory the lab accepts: a third of the 24 GiB dev/CI hosts, which run up to three labs. */
export const MAX_LAB_MEMORY_MIB = 8192;

/**
 * Checks the lab's memory sizes: QEMU memory a whole number of MiB in [1024, MAX_LAB_MEMORY_MIB], dom0's
 * share at least 512 MiB (the Debian dom0 with node) and at most QEMU memory less 256 MiB (Xen's own).
 */
export function checkMemory(memoryMiB: number, dom0MemoryMiB: number): void {
  if (!Number.isInteger(memoryMiB) || memoryMiB < 1024 || memoryMiB > MAX_LAB_MEMORY_MIB) {
    throw new LabError('TXL_LAB_USAGE', `lab memory ${memoryMiB} MiB: give a whole number of MiB from 1024 to ${MAX_LAB_MEMORY_MIB}`);
  }
  if (!Number.isInteger(dom0MemoryMiB) || dom0MemoryMiB < 512 || dom0MemoryMiB > memoryMiB - 256) {
    throw new LabError('TXL_LAB_USAGE', `dom0 memory ${dom0MemoryMiB} MiB: give a whole number of MiB from 512 to ${memoryMiB - 256} (the lab's ${memoryMiB} MiB less 256 for Xen)`);
  }
}

/** Folders of the checkout that dom0 mounts a second time with caching (lab-init.sh mounts them by these tags). */
export const CACHED_CODE_DIRS = ['dist', 'node_modules'] as const;

/** The 9p tag of a cached code folder (txlc-dist, txlc-node_modules). */
export function cachedCodeTag(dir: (typeof CACHED_CODE_DIRS)[number]): string {
  return `txlc-${dir}`;
}

/** The QEMU command line for an image (exported for tests and `txl lab exec -v`). */
export function qemuArgs(image: LabImage, o: {
  socketPath: string;
  checkout: string;
  shareDirs: readonly string[];
  disks: readonly { hostPath: string; readonly?: boolean }[];
  memoryMiB: number;
  dom0MemoryMiB: number;
  cpus: number;
}): string[] {
  const xenCmdline = [
    `dom0_mem=${o.dom0MemoryMiB}M,max:${o.dom0MemoryMiB}M`,
    `dom0_max_vcpus=${o.cpus}`,
    // bootscrub=0: scrubbing all free memory at boot costs seconds of emulated CPU and buys nothing here.
    'loglvl=all guest_loglvl=all com1=115200,8n1 console=com1 noreboot bootscrub=0',
  ].join(' ');
  const dom0Cmdline = `console=hvc0 earlyprintk=xen rdinit=/init txl.checkout=${o.checkout} txl.add=${o.shareDirs.length}`;
  const args = [
    '-M', 'q35', '-cpu', 'qemu64', '-smp', String(o.cpus), '-m', String(o.memoryMiB),
    '-nodefaults', '-display', 'none', '-vga', 'none', '-no-reboot', '-monitor', 'none',
    '-chardev', 'stdio,id=serial0,signal=off', '-serial', 'chardev:serial0',
    '-kernel', image.xenElf,
    '-append', xenCmdline,
    '-initrd', `${image.kernel} ${dom0Cmdline},${image.initrd}`,
    '-drive', `file=${image.rootImage},if=virtio,format=raw,snapshot=on,cache=unsafe`,
    '-virtfs', `local,path=${o.checkout},mount_tag=txlrepo,security_model=none,readonly=on,multidevs=remap`,
    // dist/ and node_modules/ again, mounted over their places in the checkout with dom0's page and
    // dentry caches on (cache=loose): txl's code is read by every txl process, and an uncached 9p
    // round trip costs ~0.1 s under emulation. Rebuilding dist/ while a lab is up is not seen by it.
    ...CACHED_CODE_DIRS.flatMap((dir) => ['-virtfs', `local,path=${o.checkout}/${dir},mount_tag=${cachedCodeTag(dir)},security_model=none,readonly=on,multidevs=remap`]),
    '-device', 'virtio-serial-pci,id=vser0',
    '-chardev', `socket,id=agent,path=${o.socketPath},server=on,wait=off`,
    '-device', 'virtserialport,bus=vser0.0,chardev=agent,name=org.txl.agent',
  ];
  o.shareDirs.forEach((dir, i) => {
    args.push('-virtfs', `local,path=${dir},mount_tag=txladd${i},security_model=none,readonly=on,multidevs=remap`);
  });
  for (const disk of o.disks) {
    args.push('-drive', `file=${disk.hostPath},if=virtio,format=raw,cache=unsafe${disk.readonly ? ',readonly=on' : ''}`);
  }
  return args;
}

/**
 * Boots the lab for one Xen version: builds or reuses the cached dom0 image, starts QEMU, waits for
 * the dom0 agent, brings in the shares. The caller must `shutdown()` (process exit kills QEMU too).
 */
export async function bootLab(opts: BootOptions): Promise<BootedLab> {
  const memoryMiB = opts.memoryMiB ?? 2048;
  const dom0MemoryMiB = opts.dom0MemoryMiB ?? Math.min(1024, memoryMiB - 512);
  checkMemory(memoryMiB, dom0MemoryMiB);
  requireTools([['qemu-system-x86_64', 'qemu-system-x86']]);
  const image = await ensureLabImage(opts.xen, opts.onLog ? { onLog: opts.onLog } : {});
  const checkout = realpathSync(opts.checkout ?? repoRoot());
  checkPlainPath(checkout, 'the checkout');
  const shares = (opts.shares ?? []).map((share) => {
    if (!existsSync(share.hostPath)) throw new LabError('TXL_LAB_USAGE', `--add: '${share.hostPath}' does not exist on this host`);
    const hostPath = realpathSync(share.hostPath);
    const isDir = statSync(hostPath).isDirectory();
    const labPath = share.labPath ?? share.hostPath;
    if (!labPath.startsWith('/')) throw new LabError('TXL_LAB_USAGE', `--add: the lab path '${labPath}' must be absolute`);
    const dir = isDir ? hostPath : dirname(hostPath);
    checkPlainPath(dir, '--add folder');
    return { dir, file: isDir ? undefined : basename(hostPath), labPath, isDir };
  });
  for (const disk of opts.disks ?? []) {
    if (!existsSync(disk.hostPath)) throw new LabError('TXL_LAB_USAGE', `disk image '${disk.hostPath}' does not exist`);
    checkPlainPath(disk.hostPath, 'disk image');
  }
  const tmp = mkdtempSync(join(tmpdir(), 'txl-lab-'));
  const socketPath = join(tmp, 'agent.sock');
  const args = qemuArgs(image, {
    socketPath,
    checkout,
    shareDirs: shares.map((s) => s.dir),
    disks: opts.disks ?? [],
    memoryMiB,
    dom0MemoryMiB,
    cpus: opts.cpus ?? 2,
  });
  installExitHooks();
  // setpriv --pdeathsig: QEMU dies with this process even when it is SIGKILLed (no exit hook runs then).
  const [command, ...prefix] = hasCommand('setpriv')
    ? ['setpriv', '--pdeathsig', 'KILL', '--', 'qemu-system-x86_64']
    : ['qemu-system-x86_64'];
  const started = Date.now();
  opts.onLog?.(`lab: booting Xen ${opts.xen} (image ${image.dir})`);
  const qemu = spawn(command!, [...prefix, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  liveQemus.add(qemu);
  const machine = new QemuLabMachine(opts.xen, qemu, tmp, opts);
  qemu.on('error', () => {});
  try {
    const envTimeout = Number(process.env.TXL_LAB_BOOT_TIMEOUT);
    const bootTimeoutMs = opts.timeoutMs ?? (envTimeout > 0 ? envTimeout * 1000 : 600_000);
    const ready = await machine.connectAgent(socketPath, started + bootTimeoutMs);
    opts.onLog?.(`lab: dom0 ready after ${((Date.now() - started) / 1000).toFixed(1)} s (kernel ${ready.t === 'ready' ? ready.kernel : '?'})`);
    for (const [i, share] of shares.entries()) {
      const source = share.file ? `/run/txl-add/${i}/${share.file}` : `/run/txl-add/${i}`;
      const script = share.isDir
        ? 'mkdir -p "$2" && mount --bind "$1" "$2"'
        : 'mkdir -p "$(dirname "$2")" && { [ -e "$2" ] || : > "$2"; } && mount --bind "$1" "$2"';
      const r = await machine.exec(['sh', '-c', script, 'sh', source, share.labPath], { timeoutMs: 30_000 });
      if (r.status !== 0) throw new LabError('TXL_LAB_USAGE', `--add: cannot place '${share.labPath}' in dom0: ${r.stderr.trim()}`);
    }
  } catch (error) {
    await machine.shutdown();
    throw error;
  }
  return machine;
}
