// The lab control channel's wire format: one JSON object per line, byte payloads in base64.
// The dom0 side is lab/dom0/agent.mjs (plain JavaScript, copied into the image); the vitest broker
// (lab/broker.ts) speaks the same messages plus `console` and `open`.

/** Host -> agent: run argv. `stdinStream` keeps stdin open for `stdin`/`eof` messages. */
export interface ExecRequest {
  readonly t: 'exec';
  readonly id: number;
  readonly argv: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** base64 bytes written to stdin first. */
  readonly stdin?: string;
  readonly stdinStream?: boolean;
  /** Run under a pseudo-terminal of this size. */
  readonly tty?: { readonly rows: number; readonly cols: number; readonly term?: string };
  /** The agent kills the command's process group after this long. */
  readonly timeoutMs?: number;
}

/** Every message the host sends to the agent. */
export type HostMessage =
  | { readonly t: 'hello' }
  | ExecRequest
  | { readonly t: 'stdin'; readonly id: number; readonly data: string }
  | { readonly t: 'eof'; readonly id: number }
  | { readonly t: 'kill'; readonly id: number; readonly signal?: string };

/** Every message the agent sends to the host. */
export type AgentMessage =
  | { readonly t: 'ready'; readonly xen: string; readonly kernel: string; readonly uptime: number }
  | { readonly t: 'out'; readonly id: number; readonly fd: 1 | 2; readonly data: string }
  | { readonly t: 'exit'; readonly id: number; readonly status: number; readonly signal: string | null; readonly timedOut: boolean };

/** Encodes one message as a line. */
export function encodeMessage(message: object): string {
  return `${JSON.stringify(message)}\n`;
}

/**
 * Splits a byte stream into JSON messages (one per line). `push` returns the complete messages;
 * a line that is not a JSON object is reported through `onBadLine` and skipped.
 */
export class LineDecoder {
  private pending = '';
  private readonly decoder = new TextDecoder('utf-8');

  constructor(private readonly onBadLine: (line: string) => void = () => {}) {}

  push(chunk: Uint8Array | string): unknown[] {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const out: unknown[] = [];
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, nl).trim();
      this.pending = this.pending.slice(nl + 1);
      if (!line) continue;
      try {
        const value: unknown = JSON.parse(line);
        if (value !== null && typeof value === 'object' && typeof (value as { t?: unknown }).t === 'string') out.push(value);
        else this.onBadLine(line);
      } catch {
        this.onBadLine(line);
      }
    }
    return out;
  }
}
