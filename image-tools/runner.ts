// The CommandRunner port: every external tool the image tools run goes through it (real spawn here,
// a recording fake in testing/recording-runner.ts), so plans can be executed and tested alike.
import { spawn } from 'node:child_process';

/** How to run one command. */
export interface RunOptions {
  /** Extra environment variables (merged over the current environment). */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Written to the command's stdin, then closed. */
  readonly stdin?: string;
  /** Called with each complete line of stdout and stderr as it arrives. */
  readonly onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Aborting kills the command (SIGTERM, then SIGKILL after 5 s). */
  readonly signal?: AbortSignal;
  /** Keep stdout as bytes (for `debugfs -R dump`/`cat` of binary files). */
  readonly binary?: boolean;
}

/** What a command did. */
export interface RunResult {
  /** Exit status; 128+n when killed by signal n; 127 when it could not be started. */
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout as bytes, when `binary` was asked. */
  readonly stdoutBytes?: Buffer;
}

/** Runs external commands. Implementations never throw for a non-zero status (callers decide). */
export interface CommandRunner {
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

const SIGNALS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** The real runner: node:child_process.spawn, no shell. */
export class SpawnRunner implements CommandRunner {
  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve) => {
      if (opts.signal?.aborted) {
        resolve({ status: 130, stdout: '', stderr: 'aborted before start' });
        return;
      }
      const child = spawn(argv[0]!, argv.slice(1), {
        env: { ...process.env, PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/sbin`, ...opts.env },
        ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true, // own process group, so an abort kills mmdebstrap's children too
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const partial = { stdout: '', stderr: '' };
      const feed = (stream: 'stdout' | 'stderr', chunk: Buffer): void => {
        if (!opts.onLine) return;
        const text = partial[stream] + chunk.toString('utf8');
        const lines = text.split(/\r?\n|\r/);
        partial[stream] = lines.pop() ?? '';
        for (const line of lines) if (line) opts.onLine(line, stream);
      };
      child.stdout.on('data', (c: Buffer) => {
        out.push(c);
        feed('stdout', c);
      });
      child.stderr.on('data', (c: Buffer) => {
        err.push(c);
        feed('stderr', c);
      });
      let killTimer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          /* already gone */
        }
        killTimer = setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }, 5000);
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (e) => {
        opts.signal?.removeEventListener('abort', onAbort);
        resolve({ status: 127, stdout: '', stderr: e.message });
      });
      child.on('close', (code, signal) => {
        opts.signal?.removeEventListener('abort', onAbort);
        if (killTimer) clearTimeout(killTimer);
        for (const stream of ['stdout', 'stderr'] as const) if (partial[stream] && opts.onLine) opts.onLine(partial[stream], stream);
        const stdoutBytes = Buffer.concat(out);
        resolve({
          status: code ?? 128 + (SIGNALS[signal ?? ''] ?? 15),
          stdout: opts.binary ? '' : stdoutBytes.toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          ...(opts.binary ? { stdoutBytes } : {}),
        });
      });
      child.stdin.on('error', () => {});
      child.stdin.end(opts.stdin ?? '');
    });
  }
}
