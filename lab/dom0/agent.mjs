// The lab's control agent: runs in dom0 on the virtio-serial port org.txl.agent and executes commands
// for the host (lab/machine.ts). Plain JavaScript because it is copied into the dom0 image as is.
//
// Protocol (lab/protocol.ts documents it): one JSON object per line each way; byte payloads are base64.
//   host -> agent: {t:'hello'} | {t:'exec', id, argv, env?, cwd?, stdin?, stdinStream?, tty?, timeoutMs?}
//                  | {t:'stdin', id, data} | {t:'eof', id} | {t:'kill', id, signal?}
//   agent -> host: {t:'ready', xen, kernel, uptime} | {t:'out', id, fd, data}
//                  | {t:'exit', id, status, signal, timedOut}
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, read, readFileSync, writeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

// argv: PORT (the virtio-serial device, read and written), or IN OUT (two FIFOs: lab/agent.test.ts).
const inFd = openSync(process.argv[2], 'r+');
const fd = process.argv[3] ? openSync(process.argv[3], 'r+') : inFd;
const readyFile = process.env.TXL_LAB_READY_FILE || '/run/txl-lab-backends-ready';
const procs = new Map();

function send(message) {
  const line = Buffer.from(`${JSON.stringify(message)}\n`);
  try {
    let off = 0;
    while (off < line.length) off += writeSync(fd, line, off, line.length - off);
  } catch {
    // host not connected: it re-sends hello and re-asks when it comes back
  }
}

async function backendsReady() {
  for (let i = 0; i < 600 && !existsSync(readyFile); i++) await new Promise((r) => setTimeout(r, 100));
}

function shellQuote(word) {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

async function exec(msg) {
  const { id } = msg;
  // stdin/eof/kill that arrive before the child exists wait in `early`.
  const entry = { child: undefined, early: [], timedOut: false, timer: undefined, done: false };
  procs.set(id, entry);
  await backendsReady();
  let argv = msg.argv;
  if (msg.tty) {
    // A pseudo-terminal through util-linux script(1): node has no pty of its own.
    const inner = `stty rows ${msg.tty.rows | 0} cols ${msg.tty.cols | 0} 2>/dev/null; exec ${argv.map(shellQuote).join(' ')}`;
    argv = ['script', '-qfec', inner, '/dev/null'];
  }
  const env = { ...process.env, ...(msg.tty ? { TERM: msg.tty.term || 'xterm' } : {}), ...(msg.env ?? {}) };
  // The host's working folder: created when dom0 lacks it (the root is a throw-away snapshot).
  let cwd = msg.cwd || '/';
  try {
    if (!existsSync(cwd)) mkdirSync(cwd, { recursive: true });
  } catch {
    cwd = '/';
  }
  let child;
  try {
    child = spawn(argv[0], argv.slice(1), { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (error) {
    procs.delete(id);
    send({ t: 'out', id, fd: 2, data: Buffer.from(`txl-lab: cannot run ${argv[0]}: ${error.message}\n`).toString('base64') });
    send({ t: 'exit', id, status: 127, signal: null, timedOut: false });
    return;
  }
  entry.child = child;
  const finish = (status, signal) => {
    if (entry.done) return;
    entry.done = true;
    clearTimeout(entry.timer);
    procs.delete(id);
    send({ t: 'exit', id, status, signal, timedOut: entry.timedOut });
  };
  child.on('error', (error) => {
    send({ t: 'out', id, fd: 2, data: Buffer.from(`txl-lab: cannot run ${argv[0]}: ${error.message}\n`).toString('base64') });
    finish(error.code === 'ENOENT' ? 127 : 126, null);
  });
  child.stdout.on('data', (data) => send({ t: 'out', id, fd: 1, data: data.toString('base64') }));
  child.stderr.on('data', (data) => send({ t: 'out', id, fd: 2, data: data.toString('base64') }));
  child.stdin.on('error', () => {});
  child.on('close', (code, signal) => finish(code ?? 128 + (signalNumber(signal) ?? 0), signal));
  if (msg.timeoutMs) {
    entry.timer = setTimeout(() => {
      entry.timedOut = true;
      killGroup(child, 'SIGKILL');
    }, msg.timeoutMs);
  }
  if (msg.stdin) child.stdin.write(Buffer.from(msg.stdin, 'base64'));
  if (!msg.stdinStream) child.stdin.end();
  for (const early of entry.early) handle(early);
  entry.early = [];
}

function signalNumber(name) {
  return { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 }[name];
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    try { child.kill(signal); } catch { /* gone */ }
  }
}

function handle(msg) {
  switch (msg.t) {
    case 'hello': {
      const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
      const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
      send({ t: 'ready', xen: process.env.TXL_LAB_XEN ?? '', kernel, uptime });
      break;
    }
    case 'exec':
      void exec(msg);
      break;
    case 'stdin':
    case 'eof':
    case 'kill': {
      const p = procs.get(msg.id);
      if (!p) break;
      if (!p.child) {
        p.early.push(msg);
        break;
      }
      if (msg.t === 'stdin') p.child.stdin.write(Buffer.from(msg.data, 'base64'));
      else if (msg.t === 'eof') p.child.stdin.end();
      else killGroup(p.child, msg.signal || 'SIGKILL');
      break;
    }
    default:
      break;
  }
}

// Blocking reads run on libuv's thread pool; a read returns 0 while the host side is not connected.
let pending = '';
const decoder = new StringDecoder('utf8');
const buf = Buffer.alloc(65536);
function readLoop() {
  read(inFd, buf, 0, buf.length, null, (error, n) => {
    if (error || n === 0) {
      setTimeout(readLoop, error ? 500 : 100);
      return;
    }
    pending += decoder.write(buf.subarray(0, n));
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!line.trim()) continue;
      try {
        handle(JSON.parse(line));
      } catch {
        // a torn line from a host that reconnected: ignore it
      }
    }
    readLoop();
  });
}
readLoop();
