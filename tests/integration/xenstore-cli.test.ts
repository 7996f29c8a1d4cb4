// `txl xenstore ...` against a MemoryXenstore: the xenstore-* tools' options, output bytes and statuses
// (tools/xenstore/xenstore_client.c). The lab compares the same commands with the real tools.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryXenstore, XenstoreClient } from '../../xenstore/index.js';
import { setToolConnector } from '../../xenstore/tool.js';
import type { CliIo } from '../../toolstack/cli/command.js';
import { main } from '../../toolstack/cli/main.js';

/** Runs txl in-process and records what it prints. */
async function runTxl(argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), stdin: process.stdin, stdoutIsTTY: false };
  const status = await main(argv, io);
  return { status, out, err };
}

let store: MemoryXenstore;

async function seed(): Promise<void> {
  const xs = XenstoreClient.overMemory(store);
  await xs.write('/t/a', 'hello');
  await xs.write('/t/b/c', 'line1\nline2\ttab\\');
  await xs.write('/t/long', 'x'.repeat(100));
  await xs.write('/t/bin', Buffer.from([1, 0x7f, 0xc3, 0x28]));
  await xs.close();
}

async function value(path: string): Promise<string | undefined> {
  const xs = XenstoreClient.overMemory(store);
  try {
    return await xs.tryRead(path);
  } finally {
    await xs.close();
  }
}

beforeEach(async () => {
  store = new MemoryXenstore({ xenDomains: [0, 3, 5] });
  setToolConnector(async () => XenstoreClient.overMemory(store, { timeoutMs: 5000 }));
  await seed();
});
afterEach(() => setToolConnector(undefined));

describe('txl xenstore read/exists/list', () => {
  it('prints sanitised values, one per line, with -p prefixes', async () => {
    expect(await runTxl(['xenstore', 'read', '/t/a', '/t/b/c', '/t/bin'])).toEqual({ status: 0, out: 'hello\nline1\\nline2\\ttab\\\\\n\\001\\x7f\\xc3(\n', err: '' });
    expect(await runTxl(['xenstore', 'read', '-p', '/t/a'])).toEqual({ status: 0, out: '/t/a: hello\n', err: '' });
    expect((await runTxl(['xenstore', 'read', '-R', '/t/b/c'])).out).toBe('line1\nline2\ttab\\');
  });

  it('reports a missing key, still printing what it read before (status 1)', async () => {
    expect(await runTxl(['xenstore', 'read', '/t/a', '/t/missing', '/t/long'])).toEqual({
      status: 1, out: 'hello\n', err: "txl xenstore read: couldn't read path /t/missing\n",
    });
  });

  it('exists answers with the status only', async () => {
    expect(await runTxl(['xenstore', 'exists', '/t/a', '/t/b'])).toEqual({ status: 0, out: '', err: '' });
    expect(await runTxl(['xenstore', 'exists', '/t/a', '/t/nope'])).toEqual({ status: 1, out: '', err: '' });
  });

  it('list prints children, -p with the key as prefix', async () => {
    expect(await runTxl(['xenstore', 'list', '/t'])).toEqual({ status: 0, out: 'a\nb\nlong\nbin\n', err: '' });
    expect((await runTxl(['xenstore', 'list', '-p', '/t', '/t/b'])).out).toBe('/t/a\n/t/b\n/t/long\n/t/bin\n/t/b/c\n');
    expect(await runTxl(['xenstore', 'list', '/t/none'])).toEqual({ status: 1, out: '', err: 'txl xenstore list: could not list path /t/none\n' });
  });

  it('usage errors exit 1 with the usage line', async () => {
    expect(await runTxl(['xenstore', 'read'])).toEqual({ status: 1, out: '', err: 'txl xenstore read: Usage: txl xenstore read [-h] [-p] [-s] [-R] key [...]\n' });
    expect((await runTxl(['xenstore', 'write', '/t/a'])).err).toBe('txl xenstore write: Usage: txl xenstore write [-h] [-s] [-R] key value [...]\n');
    expect((await runTxl(['xenstore', 'read', '-t', '/t/a'])).status).toBe(1);
    expect((await runTxl(['xenstore', 'read', '-s', '/t/a'])).out).toBe('hello\n');
  });
});

describe('txl xenstore ls', () => {
  it('prints the tree with indentation and truncates long values at 80 columns', async () => {
    const r = await runTxl(['xenstore', 'ls', '/t']);
    expect(r.status).toBe(0);
    expect(r.out).toBe(
      'a = "hello"\n' +
      'b = ""\n' +
      ' c = "line1\\nline2\\ttab\\\\"\n' +
      `long = "${'x'.repeat(68)}\\..."\n` +
      'bin = "\\001\\x7f\\xc3("\n',
    );
  });

  it('-p adds the dotted filler and permissions; -f prints full paths', async () => {
    const p = await runTxl(['xenstore', 'ls', '-p', '/t/b']);
    expect(p.out).toBe(`c = "line1\\nline2\\ttab\\\\"${' '}${' .'.repeat(17)}  (n0)\n`);
    const f = await runTxl(['xenstore', 'ls', '-f', '/t']);
    expect(f.out.split('\n')[0]).toBe('/t/a = "hello"');
    expect(f.out).toContain(`/t/long = "${'x'.repeat(100)}"\n`);
    const fp = await runTxl(['xenstore', 'ls', '-fp', '/t/b']);
    expect(fp.out).toBe('/t/b/c = "line1\\nline2\\ttab\\\\"   (n0)\n');
  });

  it('fails on a missing top-level path with the errno text', async () => {
    expect(await runTxl(['xenstore', 'ls', '/nope'])).toEqual({ status: 1, out: '', err: 'txl xenstore ls: xs_directory (/nope): No such file or directory\n' });
  });
});

describe('txl xenstore write/rm/chmod/watch', () => {
  it('write decodes escapes unless -R', async () => {
    expect(await runTxl(['xenstore', 'write', '/t/n', 'a\\tb\\x41\\101\\\\', '/t/m', 'two'])).toEqual({ status: 0, out: '', err: '' });
    expect(await value('/t/n')).toBe('a\tbAA\\');
    expect(await value('/t/m')).toBe('two');
    await runTxl(['xenstore', 'write', '-R', '/t/r', 'a\\tb']);
    expect(await value('/t/r')).toBe('a\\tb');
  });

  it('rm -t removes emptied parents up the tree', async () => {
    expect(await runTxl(['xenstore', 'rm', '-t', '/t/b/c'])).toEqual({ status: 0, out: '', err: '' });
    expect(await value('/t/b')).toBeUndefined();
    expect(await value('/t/a')).toBe('hello');
    expect(await runTxl(['xenstore', 'rm', '/x/y'])).toEqual({ status: 1, out: '', err: 'txl xenstore rm: could not remove path /x/y\n' });
  });

  it('chmod sets permissions, -u up the tree, -r down the tree', async () => {
    expect((await runTxl(['xenstore', 'chmod', '/t/a', 'r0', 'b5'])).status).toBe(0);
    expect((await runTxl(['xenstore', 'ls', '-fp', '/t'])).out.split('\n')[0]).toBe('/t/a = "hello"   (r0,b5)');
    await runTxl(['xenstore', 'chmod', '-u', '/t/b/c', 'n0', 'r3']);
    const perms = (await runTxl(['xenstore', 'ls', '-fp', '/t'])).out;
    expect(perms).toContain('/t/b = ""   (n0,r3)\n');
    expect(perms).toContain('/t/b/c = "line1\\nline2\\ttab\\\\"   (n0,r3)\n');
    await runTxl(['xenstore', 'chmod', '-r', '/t', 'b0']);
    expect((await runTxl(['xenstore', 'ls', '-fp', '/t'])).out.match(/\(b0\)/g)?.length).toBe(5);
    expect(await runTxl(['xenstore', 'chmod', '/t/a', 'q1'])).toEqual({ status: 1, out: '', err: "txl xenstore chmod: Invalid permission specification: 'q'\n" });
    expect((await runTxl(['xenstore', 'chmod', '/t/a', 'n99'])).err).toBe("txl xenstore chmod: Error occurred setting permissions on '/t/a': No such file or directory\n");
  });

  it('watch prints event paths, the first being the registration event, and stops after -n', async () => {
    const running = runTxl(['xenstore', 'watch', '-n', '3', '/t/w']);
    const xs = XenstoreClient.overMemory(store);
    // Wait until the tool's watch exists, then make two changes.
    for (let i = 0; i < 100 && store.connectionCount < 3; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    await xs.write('/t/w/x', '1');
    await xs.write('/t/w', '2');
    await xs.close();
    expect(await running).toEqual({ status: 0, out: '/t/w\n/t/w/x\n/t/w\n', err: '' });
  });
});
