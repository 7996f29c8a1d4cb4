// The console client against a real pty (made by util-linux `script`, standing in for xenconsoled's
// master side) and an in-memory xenstored: output relay, input relay, Ctrl-], domain removal, timeouts.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryXenstore, XenstoreClient } from '../../xenstore/index.js';
import { attachConsole, consoleTtyNode, openConsole, ConsoleError } from './index.js';

/** A pty pair whose master is `script`'s: what we write to `master` reaches the slave's readers and vice versa. */
interface FakeConsoled {
  readonly slave: string;
  /** Everything the master side has read from the slave so far. */
  fromSlave(): string;
  toSlave(text: string): void;
  kill(): void;
}

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

async function fakeConsoled(): Promise<FakeConsoled> {
  const child = spawn('script', ['-qfc', 'tty; exec sleep 60', '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
  const deadline = Date.now() + 10_000;
  while (!/\/dev\/pts\/\d+\r?\n/.test(out)) {
    if (Date.now() > deadline) throw new Error(`script did not print its tty: ${JSON.stringify(out)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const slave = /\/dev\/pts\/\d+/.exec(out)![0];
  const skip = out.length;
  return {
    slave,
    fromSlave: () => out.slice(skip),
    toSlave: (text) => child.stdin.write(text),
    kill: () => child.kill('SIGKILL'),
  };
}

async function storeWithDomain(domid: number): Promise<{ mem: MemoryXenstore; xs: XenstoreClient }> {
  const mem = new MemoryXenstore();
  const xs = XenstoreClient.overMemory(mem);
  await xs.write(`/local/domain/${domid}/name`, 'guest');
  return { mem, xs };
}

/** Collects a stream's bytes as text. */
function sink(): { stream: PassThrough; text(): string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString('latin1')));
  return { stream, text: () => text };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('consoleTtyNode (xenconsole path choice)', () => {
  it('names the pv, secondary, serial and vuart nodes', () => {
    expect(consoleTtyNode('/local/domain/7', 'pv', 0)).toBe('/local/domain/7/console/tty');
    expect(consoleTtyNode('/local/domain/7', 'pv', 2)).toBe('/local/domain/7/device/console/2/tty');
    expect(consoleTtyNode('/local/domain/7', 'serial', 1, true)).toBe('/local/domain/7/serial/1/tty');
    expect(consoleTtyNode('/local/domain/7', 'serial', 0, false)).toBe('/local/domain/7/console/tty');
    expect(consoleTtyNode('/local/domain/7', 'vuart', 3)).toBe('/local/domain/7/vuart/0/tty');
  });
});

describe('the console client over a pty', () => {
  it('shows output buffered before attaching, forwards keys, and detaches on Ctrl-]', async () => {
    const pty = await fakeConsoled();
    const { xs } = await storeWithDomain(5);
    await xs.write('/local/domain/5/console/tty', pty.slave);
    // Written before anyone attached: the slave's input queue keeps it, as with xenconsoled.
    pty.toSlave('txl-minikernel: hello cmdline=stay\r\n');
    const session = await openConsole({ store: xs, domid: 5 });
    expect(session.ttyPath).toBe(pty.slave);
    expect(session.ttyNode).toBe('/local/domain/5/console/tty');
    const out = sink();
    const keys = new PassThrough();
    const ended = session.relay({ input: keys, output: out.stream, interactive: true });
    await until('the greeting', () => out.text().includes('hello cmdline=stay'));
    keys.write('ls\r');
    await until('the keys on the master side', () => pty.fromSlave().includes('ls\r'));
    keys.write(Buffer.from([0x61, 0x1d, 0x62]));
    expect(await ended).toBe('escape');
    await until('the byte before Ctrl-]', () => pty.fromSlave().includes('ls\ra'));
    expect(pty.fromSlave()).not.toContain('b');
    await xs.close();
  });

  it('settled() waits for output to go quiet (from the call or the last output), bounded by its maximum', async () => {
    const pty = await fakeConsoled();
    const { xs } = await storeWithDomain(9);
    await xs.write('/local/domain/9/console/tty', pty.slave);
    const session = await openConsole({ store: xs, domid: 9 });
    const out = sink();
    const ended = session.relay({ output: out.stream, interactive: false });
    // Quiet from the start: returns after quietMs, not at once.
    let t = Date.now();
    await session.settled(300, 5000);
    expect(Date.now() - t).toBeGreaterThanOrEqual(290);
    // Output keeps coming every 100 ms for ~1 s: settled waits until it stops, then quietMs more.
    const timer = setInterval(() => pty.toSlave('tick\r\n'), 100);
    setTimeout(() => clearInterval(timer), 1000);
    t = Date.now();
    await session.settled(300, 5000);
    expect(Date.now() - t).toBeGreaterThanOrEqual(1000);
    expect(out.text()).toContain('tick');
    // Never quiet: the maximum bounds the wait.
    const noisy = setInterval(() => pty.toSlave('x'), 20);
    t = Date.now();
    await session.settled(300, 700);
    clearInterval(noisy);
    expect(Date.now() - t).toBeLessThan(2000);
    await session.close();
    await ended;
    await xs.close();
  });

  it('waits for xenconsoled to publish the tty, and ends when the domain is removed', async () => {
    const pty = await fakeConsoled();
    const { xs } = await storeWithDomain(9);
    const admin = xs;
    setTimeout(() => void admin.write('/local/domain/9/console/tty', pty.slave), 300);
    const out = sink();
    const attached = attachConsole({ store: xs, domid: 9, output: out.stream, waitMs: 5000 });
    await until('the tty', () => true);
    await new Promise((r) => setTimeout(r, 600));
    pty.toSlave('late output\r\n');
    await until('the late output', () => out.text().includes('late output'));
    await admin.rm('/local/domain/9');
    expect(await attached).toBe('gone');
    await xs.close();
  });

  it('a non-interactive session does not read its input and ends on abort', async () => {
    const pty = await fakeConsoled();
    const { xs } = await storeWithDomain(3);
    await xs.write('/local/domain/3/console/tty', pty.slave);
    const keys = new PassThrough();
    keys.write('should not be sent\r');
    const abort = new AbortController();
    const out = sink();
    const attached = attachConsole({ store: xs, domid: 3, input: keys, output: out.stream, signal: abort.signal });
    await new Promise((r) => setTimeout(r, 300));
    abort.abort();
    expect(await attached).toBe('aborted');
    expect(pty.fromSlave()).not.toContain('should not');
    await xs.close();
  });

  it('follows the tty node to a new pty (bootloader -> xenconsoled)', async () => {
    const first = await fakeConsoled();
    const second = await fakeConsoled();
    const { xs } = await storeWithDomain(4);
    await xs.write('/local/domain/4/console/tty', first.slave);
    const out = sink();
    const keys = new PassThrough();
    const attached = attachConsole({ store: xs, domid: 4, input: keys, output: out.stream, interactive: true });
    first.toSlave('from the first\r\n');
    await until('first output', () => out.text().includes('from the first'));
    await xs.write('/local/domain/4/console/tty', second.slave);
    await new Promise((r) => setTimeout(r, 300));
    second.toSlave('from the second\r\n');
    await until('second output', () => out.text().includes('from the second'));
    keys.write('x');
    await until('input to the second pty', () => second.fromSlave().includes('x'));
    keys.write('\x1d');
    expect(await attached).toBe('escape');
    await xs.close();
  });

  it('secondary consoles use device/console/N/tty', async () => {
    const pty = await fakeConsoled();
    const { xs } = await storeWithDomain(6);
    await xs.write('/local/domain/6/device/console/1/tty', pty.slave);
    const session = await openConsole({ store: xs, domid: 6, num: 1 });
    expect(session.ttyNode).toBe('/local/domain/6/device/console/1/tty');
    await session.close();
    await session.close();
    await xs.close();
  });

  it('refuses domain 0 and times out without a tty, naming the node', async () => {
    const { xs } = await storeWithDomain(8);
    await expect(openConsole({ store: xs, domid: 0 })).rejects.toMatchObject({ code: 'TXL_CONSOLE_DOM0', message: "Can't specify Domain-0" });
    const started = Date.now();
    const err = await openConsole({ store: xs, domid: 8, waitMs: 400 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConsoleError);
    expect((err as ConsoleError).code).toBe('TXL_CONSOLE_NO_TTY');
    expect((err as ConsoleError).message).toContain('/local/domain/8/console/tty');
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    await xs.write('/local/domain/8/console/tty', '/dev/nonexistent-pty');
    await expect(openConsole({ store: xs, domid: 8, waitMs: 300 })).rejects.toMatchObject({ code: 'TXL_CONSOLE_OPEN' });
    await xs.close();
  });
});
