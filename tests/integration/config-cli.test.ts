// `txl config parse` and `txl create --dry-run` end to end (in-process), including every kind of bad input.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../toolstack/cli/command.js';
import { main } from '../../toolstack/cli/main.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const corpus = join(repo, 'tests', 'corpus');
const ubuntu = join(corpus, 'ubuntu.cfg');
const work = mkdtempSync(join(tmpdir(), 'txl-config-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const path = join(work, name);
  writeFileSync(path, content);
  return path;
}

/** Runs txl in-process and records what it prints. */
async function runTxl(argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), stdin: process.stdin, stdoutIsTTY: false };
  const status = await main(argv, io);
  return { status, out, err };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('txl create --dry-run', () => {
  it('shows the classic ubuntu.cfg as xl reads it (golden JSON)', async () => {
    const r = await runTxl(['create', '--dry-run', '--json', ubuntu]);
    expect(r.err).toBe(`Parsing config from ${ubuntu}\n`);
    expect(r.status).toBe(0);
    const config = JSON.parse(r.out) as Record<string, unknown>;
    expect(config.uuid).toMatch(UUID);
    const golden = JSON.parse(readFileSync(join(corpus, 'ubuntu.dry-run.json'), 'utf8')) as Record<string, unknown>;
    expect({ ...config, uuid: '<random>', source: '<path>' }).toEqual(golden);
  });

  it('prints name, memory, the disk, the vif and the command line for people', async () => {
    const r = await runTxl(['create', '-n', ubuntu]);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^name +ubuntu$/m);
    expect(r.out).toMatch(/^memory +64 MiB$/m);
    expect(r.out).toMatch(/^disk xvda +\/root\/ubuntu\.img, raw, read-write, devid 51712$/m);
    expect(r.out).toMatch(/^vif 0 +bridge eth0, /m);
    expect(r.out).toMatch(/^cmdline +root=\/dev\/xvda ro$/m);
  });

  it('takes the file from -f as xl create -f does (then every argument is a setting), -q drops the "Parsing config" line', async () => {
    const r = await runTxl(['create', '-n', '-q', '--json', '-f', ubuntu, 'memory=96', 'name="web3"']);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    const config = JSON.parse(r.out) as { name: string; memoryMiB: number };
    expect([config.name, config.memoryMiB]).toEqual(['web3', 96]);
    // Without -f, the argument without '=' is the file wherever it stands (xl's main_create).
    const late = await runTxl(['create', '-n', '-q', '--json', 'memory=80', ubuntu, 'name="web4"']);
    expect(late.status, late.err).toBe(0);
    const lateConfig = JSON.parse(late.out) as { name: string; memoryMiB: number };
    expect([lateConfig.name, lateConfig.memoryMiB]).toEqual(['web4', 80]);
  });

  it('lets KEY=VALUE settings override the file as xl does, and warns about unknown keys', async () => {
    const r = await runTxl(['create', '-n', '--json', ubuntu, 'memory=0x80', 'name="web2"', 'vif+=["bridge=br1"]', 'memroy=1']);
    expect(r.status).toBe(0);
    const config = JSON.parse(r.out) as { name: string; memoryMiB: number; vifs: { bridge: string }[] };
    expect([config.name, config.memoryMiB, config.vifs.map((v) => v.bridge)]).toEqual(['web2', 128, ['eth0', 'br1']]);
    expect(r.err).toBe(`Parsing config from ${ubuntu}\ntxl: warning: ${ubuntu}: command-line setting "memroy=1": unknown setting 'memroy' is ignored (did you mean 'memory'?)\n`);
  });

  it('without --dry-run goes to the boot path, which fails cleanly here (no Xen, or TXL_CREATE_UNAVAILABLE)', async () => {
    const r = await runTxl(['create', '--json', ubuntu]);
    expect(r.out).toBe('');
    expect(r.status).not.toBe(0);
    expect(r.status).not.toBe(70); // an internal error (a bug) would be 70
    const last = r.err.trim().split('\n').at(-1)!;
    const error = (JSON.parse(last) as { error: { code: string; message: string } }).error;
    expect(error.code).toMatch(/^TXL_[A-Z0-9_]+$/);
    if (error.code === 'TXL_CREATE_UNAVAILABLE') expect(error.message).toContain('not implemented yet');
  });

  it('refuses an argument that is not KEY=VALUE with a usage status', async () => {
    const r = await runTxl(['create', '-n', ubuntu, 'other.cfg']);
    expect(r.status).toBe(2);
    expect(r.err).toContain("'other.cfg' is not a KEY=VALUE setting");
  });
});

describe('usage errors name the word and suggest the nearest one (status 2)', () => {
  it.each([
    [['creat', 'x.cfg'], "unknown command 'creat': did you mean 'create'?"],
    [['config', 'pars', 'x.cfg'], "unknown command 'pars': did you mean 'parse'?"],
    [['create', '--dryrun', 'x.cfg'], 'Unknown argument: dryrun\n--dryrun: did you mean --dry-run?'],
    [['--jsn', 'list'], 'Unknown argument: jsn\n--jsn: did you mean --json?'],
    [['config', 'parse'], "'txl config parse' needs 1 more argument(s): see 'txl config parse --help'"],
  ])('txl %j', async (argv, message) => {
    const r = await runTxl(argv);
    expect(r.status).toBe(2);
    expect(r.err).toBe(`txl: ${message}\nRun 'txl --help' for usage.\n`);
  });

  it.each([
    [['create'], 'txl create needs a config file: txl create FILE [KEY=VALUE...] or txl create -f FILE [KEY=VALUE...]'],
    [['create', 'memory=64'], 'txl create needs a config file: txl create FILE [KEY=VALUE...] or txl create -f FILE [KEY=VALUE...]'],
    [['create', '-F', '-c', 'x.cfg'], '-F and -c cannot be used together: with -c txl already stays attached until the domain is gone'],
  ])('txl %j (checked by the command)', async (argv, message) => {
    const r = await runTxl(argv);
    expect(r.status).toBe(2);
    expect(r.err).toBe(`txl: ${message}\n`);
  });
});

describe('txl config parse', () => {
  it('prints the settings exactly as libxlutil holds them', async () => {
    const r = await runTxl(['config', 'parse', file('hex.cfg', 'memory = 0x40\nname="a"; name = \'b\'\ndisk=[ "x",\n "y", ]\ndisk += ["z"]\n')]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ memory: '0x40', name: 'b', disk: ['x', 'y', 'z'] });
  });

  it('reads files larger than one read chunk completely', async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `k${i} = "${'v'.repeat(10)}${i}"`);
    const r = await runTxl(['config', 'parse', file('big.cfg', `${lines.join('\n')}\n`)]);
    expect(r.status).toBe(0);
    const parsed = JSON.parse(r.out) as Record<string, string>;
    expect(Object.keys(parsed).length).toBe(20_000);
    expect(parsed.k19999).toBe('vvvvvvvvvv19999');
  });

  it('exits non-zero with the error for a file libxlutil rejects', async () => {
    const r = await runTxl(['config', 'parse', join(corpus, 'rejects-bare-word.cfg')]);
    expect(r.status).toBe(1);
    expect(r.err).toContain("rejects-bare-word.cfg:1: config parsing error near `ubuntu': syntax error, unexpected IDENT, expecting STRING or NUMBER or '['");
    expect(r.out).toBe('');
  });
});

describe('bad input: a clear message naming the file:line or field, non-zero exit, no stack trace without -v', () => {
  const cases: [string, () => string, RegExp][] = [
    ['a missing file', () => join(work, 'nope.cfg'), /cannot read config file .*nope\.cfg: no such file/],
    ['a directory', () => { mkdirSync(join(work, 'dir.cfg'), { recursive: true }); return join(work, 'dir.cfg'); }, /cannot read config file .*dir\.cfg: it is a directory/],
    ['binary garbage', () => file('garbage.cfg', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256))), /garbage\.cfg:\d+: config parsing error near .*: lexical error/],
    ['a 50 MB file', () => { const p = file('huge.cfg', ''); truncateSync(p, 50 * 1024 * 1024); return p; }, /config file .*huge\.cfg is 50\.0 MiB: that is not an xl\.cfg/],
    ['memory = "abc"', () => file('abc.cfg', 'name = "x"\nkernel = "/k"\nmemory = "abc"\n'), /abc\.cfg:3: memory="abc" is not a valid number/],
    ['two disks with one vdev', () => file('vdev.cfg', 'name = "x"\nkernel = "/k"\ndisk = [ "/a,,xvda", "/b,raw,xvda,w" ]\n'), /vdev\.cfg:3: disk\[1\] "\/b,raw,xvda,w" uses vdev xvda, which disk\[0\] already uses/],
    ['PV without kernel or bootloader', () => file('nokernel.cfg', 'name = "x"\nmemory = 64\n'), /nokernel\.cfg: neither kernel nor bootloader specified/],
    ['a CR byte', () => join(corpus, 'rejects-cr.cfg'), /rejects-cr\.cfg:1: config parsing error near `\\x0d': lexical error/],
    ['hvm', () => file('hvm.cfg', 'name = "x"\ntype = "hvm"\n'), /hvm\.cfg:2: type "hvm" is recognised but not supported yet/],
  ];

  it.each(cases)('%s', async (_what, make, message) => {
    const path = make();
    const r = await runTxl(['create', '--dry-run', path]);
    expect(r.status).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(message);
    expect(r.err).not.toMatch(/^\s+at /m);
    const verbose = await runTxl(['create', '--dry-run', '-v', path]);
    expect(verbose.status).toBe(1);
    expect(verbose.err).toMatch(/^code: TXL_CFG_/m);
    expect(verbose.err).toMatch(/^\s+at /m);
  });

  it('says binary files look binary', async () => {
    const r = await runTxl(['config', 'parse', file('nul.cfg', Buffer.from('name = "x"\n\0\0\0\x01\x02'))]);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/nul\.cfg:2: config parsing error near `\\x00\\x00\\x00\\x01\\x02': lexical error/);
    expect(r.err).toMatch(/hint: .*looks like a binary file/);
  });

  it('an unreadable file (as an unprivileged user: spawns the built CLI with setpriv when run as root)', async () => {
    const dir = join(work, 'locked');
    mkdirSync(dir, { recursive: true });
    chmodSync(work, 0o755);
    chmodSync(dir, 0o755);
    const path = file('locked/secret.cfg', 'name = "x"\n');
    chmodSync(path, 0o000);
    if (process.getuid?.() !== 0) {
      const r = await runTxl(['create', '-n', path]);
      expect(r.status).toBe(1);
      expect(r.err).toMatch(/cannot read config file .*secret\.cfg: permission denied/);
      return;
    }
    const entry = join(repo, 'dist', 'toolstack', 'cli', 'entry.js');
    expect(existsSync(entry), `${entry} is missing: build the CLI first (npx tsc -p tsconfig.build.json; npm test does)`).toBe(true);
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, join(repo, 'bin', 'txl'), 'create', '-n', path], { encoding: 'utf8' });
    expect(r.stderr).toMatch(/^txl: cannot read config file .*secret\.cfg: permission denied$/m);
    expect(r.status).toBe(1);
  });
});
