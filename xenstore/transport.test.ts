import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { XenstoreClient } from './client.js';
import { MemoryXenstore } from './memory.js';
import type { XsTransport } from './transport.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Serves a MemoryXenstore on a unix socket, like xenstored does. */
function serve(store: MemoryXenstore, path: string): net.Server {
  return net.createServer((socket) => {
    const t: XsTransport = store.connect();
    t.onData((b) => socket.write(b));
    t.onClose(() => socket.destroy());
    socket.on('data', (b) => t.write(b));
    socket.on('close', () => t.close());
    socket.on('error', () => undefined);
  }).listen(path);
}

describe('socket transport', () => {
  it('talks to a server on a unix socket, and retries while nobody listens yet', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'txl-xs-'));
    dirs.push(dir);
    const path = join(dir, 'socket');
    const store = new MemoryXenstore();
    // A stale socket file nobody listens on (moved away from a server that then closed): ECONNREFUSED.
    const stale = net.createServer().listen(`${path}.tmp`);
    await new Promise((r) => stale.once('listening', r));
    renameSync(`${path}.tmp`, path);
    await new Promise<void>((r) => stale.close(() => r()));
    const started = Date.now();
    const connecting = XenstoreClient.connect({ path, transport: 'socket', timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 150));
    rmSync(path, { force: true });
    const server = serve(store, path);
    await new Promise((r) => server.once('listening', r));
    const xs = await connecting;
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    await xs.write('/over/socket', 'yes');
    expect(await xs.read('/over/socket')).toBe('yes');
    await xs.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('fails with TXL_XS_CONNECT when there is no socket', async () => {
    await expect(XenstoreClient.connect({ path: '/nonexistent/xenstored/socket', transport: 'socket', timeoutMs: 300 })).rejects.toMatchObject({ code: 'TXL_XS_CONNECT' });
  });
});
