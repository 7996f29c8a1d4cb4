// A CommandRunner fake for unit tests: records every call and answers from scripted responses.
import type { CommandRunner, RunOptions, RunResult } from '../runner.js';

/** One recorded call. */
export interface RecordedCall {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>> | undefined;
  readonly stdin: string | undefined;
}

/** Decides the result of a call; undefined falls through to the next responder (or status 0). */
export type Responder = (argv: readonly string[], opts: RunOptions) => Partial<RunResult> | undefined | Promise<Partial<RunResult> | undefined>;

/** Records calls; answers with the first responder that matches, else status 0 and empty output. */
export class RecordingRunner implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  private readonly responders: Responder[] = [];

  /** Adds a responder for commands whose argv[0] is `program` (or any command when `program` is '*'). */
  on(program: string, respond: Responder): this {
    this.responders.push((argv, opts) => (program === '*' || argv[0] === program ? respond(argv, opts) : undefined));
    return this;
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ argv: [...argv], env: opts.env, stdin: opts.stdin });
    for (const respond of this.responders) {
      const r = await respond(argv, opts);
      if (r) {
        const result = { status: 0, stdout: '', stderr: '', ...r };
        if (opts.onLine) for (const line of `${result.stdout}\n${result.stderr}`.split('\n')) if (line) opts.onLine(line, 'stderr');
        return result;
      }
    }
    return { status: 0, stdout: '', stderr: '' };
  }

  /** The programs run, in order. */
  programs(): string[] {
    return this.calls.map((c) => c.argv[0]!);
  }
}
