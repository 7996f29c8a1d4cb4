// Byte-for-byte comparison of `txl xenstore <mode>` with the C xenstore-<mode> tools on the same store.
// Runs where both exist (the lab's dom0): `node dist/xenstore/compare-tools.js 4.17|4.20` prints one JSON line
// of ToolComparison[]. The C tools run as child processes; txl runs in-process through its CLI entry
// (main(), the code bin/txl runs; watch included) and, for a few cases, as the real `txl` command.
import { spawn, spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { XenstoreClient } from './client.js';

/** One command run by both tools. */
export interface ToolCase {
  readonly name: string;
  readonly mode: string;
  readonly args: readonly string[];
  /** Compare the store below the base after the command (mutating modes). */
  readonly state?: boolean;
  /** Run txl as a separate `txl` process instead of in-process. */
  readonly process?: boolean;
  /** For watch: paths written (in order) after the watcher started. */
  readonly writes?: readonly string[];
}

/** What one tool did. */
export interface ToolRun {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly state?: string;
}

/** Result of one case. */
export interface ToolComparison {
  readonly name: string;
  readonly same: boolean;
  readonly c: ToolRun;
  readonly txl: ToolRun;
}

/** The cases, with `@` standing for the base path. */
export function toolCases(): ToolCase[] {
  const c = (name: string, mode: string, args: string[], extra: Partial<ToolCase> = {}): ToolCase => ({ name, mode, args, ...extra });
  return [
    c('read one', 'read', ['@/a']),
    c('read several, escaped', 'read', ['@/a', '@/b/c', '@/bin', '@/empty']),
    c('read -p', 'read', ['-p', '@/a', '@/b/c']),
    c('read --prefix', 'read', ['--prefix', '@/a']),
    c('read -R', 'read', ['-R', '@/b/c', '@/a']),
    c('read -s (ignored)', 'read', ['-s', '@/a']),
    c('read missing', 'read', ['@/missing']),
    c('read partly missing', 'read', ['@/a', '@/missing', '@/long']),
    c('read usage', 'read', []),
    c('read bad option', 'read', ['-t', '@/a']),
    c('read invalid path', 'read', ['@/bad path']),
    c('read relative', 'read', ['name']),
    c('exists yes', 'exists', ['@/a', '@/b']),
    c('exists no', 'exists', ['@/a', '@/missing']),
    c('list', 'list', ['@']),
    c('list -p several', 'list', ['-p', '@', '@/b']),
    c('list missing', 'list', ['@/missing']),
    c('list leaf', 'list', ['@/a']),
    c('ls', 'ls', ['@']),
    c('ls -p', 'ls', ['-p', '@']),
    c('ls -f', 'ls', ['-f', '@']),
    c('ls -fp', 'ls', ['-fp', '@']),
    c('ls --flat --prefix', 'ls', ['--flat', '--prefix', '@/b']),
    c('ls subtree', 'ls', ['@/deep']),
    c('ls missing', 'ls', ['@/missing']),
    c('ls /tool', 'ls', ['/tool']),
    c('ls two paths', 'ls', ['@/b', '@/deep']),
    c('write escapes', 'write', ['@/w', 'a\\tb\\x41\\101\\\\ \\q end\\'], { state: true }),
    c('write -R', 'write', ['-R', '@/w', 'a\\tb'], { state: true }),
    c('write pairs', 'write', ['@/w1', 'v1', '@/new/deep/w2', 'v2'], { state: true }),
    c('write odd arguments', 'write', ['@/w'], { state: true }),
    c('write invalid path', 'write', ['@/bad path', 'v'], { state: true }),
    c('rm subtree', 'rm', ['@/b'], { state: true }),
    c('rm -t', 'rm', ['-t', '@/deep/1/2/3/4'], { state: true }),
    c('rm missing with parent', 'rm', ['@/missing'], { state: true }),
    c('rm missing parent', 'rm', ['@/nope/nope'], { state: true }),
    c('rm several', 'rm', ['@/a', '@/long'], { state: true }),
    c('chmod', 'chmod', ['@/a', 'r0', 'b5'], { state: true }),
    c('chmod absent owner', 'chmod', ['@/a', 'n31999'], { state: true }),
    c('chmod -u', 'chmod', ['-u', '@/b/c', 'b0'], { state: true }),
    c('chmod -r', 'chmod', ['-r', '@/deep', 'n0', 'r3'], { state: true }),
    c('chmod bad letter', 'chmod', ['@/a', 'q1'], { state: true }),
    c('watch -n 3', 'watch', ['-n', '3', '@/wt'], { writes: ['@/wt/x', '@/wt'] }),
    c('watch two paths -n 4', 'watch', ['-n', '4', '@/wa', '@/wb'], { writes: ['@/wb/1', '@/wa/2', '@/wb'] }),
    c('txl process: read -p', 'read', ['-p', '@/a', '@/b/c'], { process: true }),
    c('txl process: ls -p', 'ls', ['-p', '@'], { process: true }),
    c('txl process: write + state', 'write', ['@/pw', 'x\\ty'], { process: true, state: true }),
  ];
}

async function seed(xs: XenstoreClient, base: string): Promise<void> {
  // Pipelined on one connection: xenstored handles them in this order, so children keep this order.
  const steps: Promise<unknown>[] = [
    xs.rm(base).catch(() => undefined),
    xs.write(`${base}/a`, 'hello'),
    xs.write(`${base}/b/c`, 'line1\nline2\ttab\\'),
    xs.write(`${base}/long`, 'x'.repeat(100)),
    xs.write(`${base}/bin`, Buffer.from([1, 0x7f, 0xc3, 0x28, 0])),
    xs.write(`${base}/empty`, ''),
    xs.write(`${base}/deep/1/2/3/4`, 'd'),
    xs.write(`${base}/deep/${'n'.repeat(75)}`, 'long name'),
    xs.write(`${base}/deep/1/v`, 'y'.repeat(60)),
    xs.write(`${base}/perm`, 'p'),
    xs.setPermissions(`${base}/perm`, [{ domid: 0, access: 'n' }, { domid: 5, access: 'r' }]),
  ];
  await Promise.all(steps);
}

function runC(mode: string, args: readonly string[]): ToolRun {
  const r = spawnSync(`xenstore-${mode}`, args, { encoding: 'latin1', timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

async function runTxlInProcess(mode: string, args: readonly string[]): Promise<ToolRun> {
  const { main } = await import('../toolstack/cli/main.js');
  const out: string[] = [];
  const err: string[] = [];
  // Not process.stdin: touching it opens a handle that can keep this process alive after the run.
  const status = await main(['xenstore', mode, ...args], { out: (t) => void out.push(t), err: (t) => void err.push(t), stdin: Readable.from([]), stdoutIsTTY: false });
  return { status, stdout: Buffer.from(out.join(''), 'utf8').toString('latin1'), stderr: err.join('') };
}

function runTxlProcess(mode: string, args: readonly string[]): ToolRun {
  // Starting node with the whole CLI over the 9p-shared checkout takes long under TCG on a busy host.
  const r = spawnSync('txl', ['xenstore', mode, ...args], { encoding: 'latin1', timeout: 300_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

async function runWatch(argv: string[], writes: readonly string[]): Promise<ToolRun> {
  const xs = await XenstoreClient.connect();
  try {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let wrote = false;
    child.stdout.setEncoding('latin1').on('data', (d: string) => {
      stdout += d;
      // After the registration events, make the changes (once per run).
      const paths = argv.filter((a) => a.startsWith('/'));
      if (!wrote && stdout.split('\n').filter(Boolean).length >= paths.length) {
        wrote = true;
        void (async () => {
          for (const w of writes) await xs.write(w, 'x');
        })();
      }
    });
    child.stderr.setEncoding('latin1').on('data', (d: string) => void (stderr += d));
    const status = await new Promise<number>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve(code ?? -1);
      });
    });
    return { status, stdout, stderr };
  } finally {
    await xs.close();
  }
}

/** `txl xenstore watch` in-process (through main()), making the same writes once it printed its registration events. */
async function runTxlWatchInProcess(args: readonly string[], writes: readonly string[]): Promise<ToolRun> {
  const { main } = await import('../toolstack/cli/main.js');
  const xs = await XenstoreClient.connect();
  try {
    const out: string[] = [];
    const err: string[] = [];
    const paths = args.filter((a) => a.startsWith('/'));
    let writing: Promise<void> | undefined;
    const onOut = (text: string) => {
      out.push(text);
      if (!writing && out.join('').split('\n').filter(Boolean).length >= paths.length) {
        writing = (async () => {
          for (const w of writes) await xs.write(w, 'x');
        })();
      }
    };
    let timer: NodeJS.Timeout | undefined;
    const status = await Promise.race([
      main(['xenstore', 'watch', ...args], { out: onOut, err: (t) => void err.push(t), stdin: Readable.from([]), stdoutIsTTY: false }),
      new Promise<number>((resolve) => {
        timer = setTimeout(() => {
          err.push('(compare-tools: txl xenstore watch did not end within 60 s)');
          resolve(-1);
        }, 60_000);
      }),
    ]).finally(() => clearTimeout(timer));
    await writing;
    return { status, stdout: Buffer.from(out.join(''), 'utf8').toString('latin1'), stderr: err.join('') };
  } finally {
    await xs.close();
  }
}

async function stateOf(base: string): Promise<string> {
  return runC('ls', ['-fp', base]).stdout;
}

/** Runs every case with both tools (the store re-seeded before each run) and compares them. */
export async function compareTools(
  base = `/txl-cmp-${process.pid}`, onResult?: (r: ToolComparison) => void, version: '4.17' | '4.20' = '4.17',
): Promise<ToolComparison[]> {
  const xs = await XenstoreClient.connect();
  const results: ToolComparison[] = [];
  let dirty = true;
  try {
    for (const tc of toolCases()) {
      const args = tc.args.map((a) => a.replace(/^@/, base));
      const runs: ToolRun[] = [];
      for (const tool of ['c', 'txl'] as const) {
        // Re-seed only after a run that may have changed the store (mutating modes and watch's writes).
        if (dirty) await seed(xs, base);
        dirty = tc.state === true || tc.mode === 'watch';
        let run: ToolRun;
        if (tc.mode === 'watch') {
          const writes = (tc.writes ?? []).map((w) => w.replace(/^@/, base));
          // txl in-process like the other cases (a `txl` process costs seconds of node start-up over 9p).
          run = tool === 'c' ? await runWatch([`xenstore-${tc.mode}`, ...args], writes) : await runTxlWatchInProcess(args, writes);
        } else if (tool === 'c') run = runC(tc.mode, args);
        else run = tc.process ? runTxlProcess(tc.mode, args) : await runTxlInProcess(tc.mode, args);
        if (tc.state) run = { ...run, state: await stateOf(base) };
        runs.push(run);
      }
      const [cRun, txlRunAsIs] = runs as [ToolRun, ToolRun];
      // txl prints 4.17's usage lines; 4.20's tools dropped "[-s] " from them (the option is still accepted).
      const txlRun = version === '4.20' ? { ...txlRunAsIs, stderr: txlRunAsIs.stderr.replace(/^(.*: Usage: .*?)\[-s\] /gm, '$1') } : txlRunAsIs;
      // Messages name the program: xenstore-read for C, "txl xenstore read" for txl.
      const normalised = { ...cRun, stderr: cRun.stderr.split(`xenstore-${tc.mode}`).join(`txl xenstore ${tc.mode}`) };
      const same = normalised.status === txlRun.status && normalised.stdout === txlRun.stdout && normalised.stderr === txlRun.stderr && normalised.state === txlRun.state;
      results.push({ name: tc.name, same, c: normalised, txl: txlRun });
      onResult?.(results.at(-1)!);
    }
  } finally {
    await xs.rm(base).catch(() => undefined);
    await xs.close();
  }
  return results;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const version = process.argv[2];
  if ((version !== '4.17' && version !== '4.20') || process.argv.length !== 3) {
    process.stderr.write(`usage: compare-tools.js 4.17|4.20 (got ${JSON.stringify(process.argv.slice(2))})\n`);
    process.exit(2);
  }
  let last = Date.now();
  compareTools(undefined, (r) => {
    process.stderr.write(`${r.same ? 'same' : 'DIFF'} ${r.name} (${Date.now() - last} ms)\n`);
    last = Date.now();
  }, version).then(
    (results) => {
      // Exit explicitly once the output is flushed: nothing may keep the lab's exec waiting.
      process.stdout.write(`${JSON.stringify(results)}\n`, () => process.exit(results.every((r) => r.same) ? 0 : 1));
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`, () => process.exit(2));
    },
  );
}
