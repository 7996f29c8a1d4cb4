// The dom0 control agent (lab/dom0/agent.mjs) run on the host over two FIFOs: the protocol, stdin
// streaming (including input that arrives before the command starts), timeouts, working folders.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './build.js';
import { encodeMessage, LineDecoder, type AgentMessage, type HostMessage } from './protocol.js';

const dir = mkdtempSync(join(tmpdir(), 'txl-agent-'));
let agent: ChildProcess;
let toAgent: number;
const received: AgentMessage[] = [];
const waiters: (() => void)[] = [];

function send(m: HostMessage): void {
  writeSync(toAgent, encodeMessage(m));
}

async function until<T>(pick: () => T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = pick();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(received)}`);
    await new Promise<void>((r) => {
      waiters.push(r);
      setTimeout(r, 50);
    });
  }
}

/** Output and exit of command `id`. */
async function result(id: number, ms?: number): Promise<{ stdout: string; stderr: string; exit: Extract<AgentMessage, { t: 'exit' }> }> {
  const exit = await until(() => received.find((m): m is Extract<AgentMessage, { t: 'exit' }> => m.t === 'exit' && m.id === id), ms);
  const text = (fd: 1 | 2): string =>
    Buffer.concat(received.filter((m) => m.t === 'out' && m.id === id && m.fd === fd).map((m) => Buffer.from((m as { data: string }).data, 'base64'))).toString();
  return { stdout: text(1), stderr: text(2), exit };
}

beforeAll(() => {
  const fifoIn = join(dir, 'in');
  const fifoOut = join(dir, 'out');
  expect(spawnSync('mkfifo', [fifoIn, fifoOut]).status).toBe(0);
  writeFileSync(join(dir, 'ready'), '');
  agent = spawn(process.execPath, [join(repoRoot(), 'lab', 'dom0', 'agent.mjs'), fifoIn, fifoOut], {
    env: { ...process.env, TXL_LAB_READY_FILE: join(dir, 'ready'), TXL_LAB_XEN: '4.17' },
    stdio: 'inherit',
  });
  toAgent = openSync(fifoIn, 'r+');
  const decoder = new LineDecoder();
  createReadStream(fifoOut, { flags: 'r+' }).on('data', (chunk) => {
    received.push(...(decoder.push(chunk as Buffer) as AgentMessage[]));
    for (const w of waiters.splice(0)) w();
  });
});

afterAll(() => {
  agent.kill('SIGKILL');
  closeSync(toAgent);
  rmSync(dir, { recursive: true, force: true });
});

describe('the dom0 agent', () => {
  it('answers hello with ready', async () => {
    send({ t: 'hello' });
    const ready = await until(() => received.find((m) => m.t === 'ready'));
    expect(ready).toMatchObject({ t: 'ready', xen: '4.17' });
  });

  it('runs a command with env and stdin and reports its status', async () => {
    send({ t: 'exec', id: 1, argv: ['sh', '-c', 'cat; echo "$X" >&2; exit 3'], env: { X: 'from-env' }, stdin: Buffer.from('in\n').toString('base64') });
    const r = await result(1);
    expect(r).toMatchObject({ stdout: 'in\n', stderr: 'from-env\n', exit: { status: 3, timedOut: false } });
  });

  it('keeps stdin open for streamed input, even input sent before the command starts', async () => {
    send({ t: 'exec', id: 2, argv: ['cat'], stdinStream: true });
    send({ t: 'stdin', id: 2, data: Buffer.from('early ').toString('base64') });
    send({ t: 'stdin', id: 2, data: Buffer.from('late\n').toString('base64') });
    send({ t: 'eof', id: 2 });
    const r = await result(2);
    expect(r.stdout).toBe('early late\n');
    expect(r.exit.status).toBe(0);
  });

  it('kills the whole process group on timeout and says so', async () => {
    send({ t: 'exec', id: 3, argv: ['sh', '-c', 'sleep 60 & sleep 60; echo never'], timeoutMs: 300 });
    const r = await result(3);
    expect(r.exit.timedOut).toBe(true);
    expect(r.stdout).toBe('');
  });

  it('creates a missing working folder and reports a missing program as 127', async () => {
    const cwd = join(dir, 'new', 'folder');
    send({ t: 'exec', id: 4, argv: ['pwd'], cwd });
    expect((await result(4)).stdout).toBe(`${cwd}\n`);
    send({ t: 'exec', id: 5, argv: ['no-such-program-here'] });
    const r = await result(5);
    expect(r.exit.status).toBe(127);
    expect(r.stderr).toContain('cannot run no-such-program-here');
  });

  it('kills a command on request', async () => {
    send({ t: 'exec', id: 6, argv: ['sleep', '60'] });
    await new Promise((r) => setTimeout(r, 200));
    send({ t: 'kill', id: 6 });
    const r = await result(6);
    expect(r.exit.signal).toBe('SIGKILL');
    expect(r.exit.status).toBe(137);
  });
});
