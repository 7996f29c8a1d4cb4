// The libxlutil oracle: builds tests/oracle/xlu-dump.c into <repo>/.cache/oracle/ and runs inputs through it.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const source = join(here, 'xlu-dump.c');

/** libxlutil's view of an xl.cfg text: rc (errno, 0 = accepted), its report, its settings newest first. */
export interface OracleCfg {
  readonly rc?: number;
  readonly report?: string;
  readonly settings?: { name: string; op: 0 | 1; line: number; value: unknown }[];
  /** Set when libxlutil aborted (the signal number). */
  readonly crash?: number;
}

/** libxlutil's libxl_device_disk after xlu_disk_parse. */
export interface OracleDisk {
  readonly rc?: number;
  readonly report?: string;
  readonly disk?: Record<string, unknown>;
  readonly crash?: number;
}

/** xlu_vif_parse_rate's result. */
export interface OracleRate {
  readonly rc?: number;
  readonly report?: string;
  readonly bytes_per_interval?: number;
  readonly interval_usecs?: number;
  readonly crash?: number;
}

/** Path of the built oracle; compiles it when the source is newer than the binary (keyed by the source's hash). */
export function buildOracle(): string {
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16);
  const dir = join(repo, '.cache', 'oracle');
  const binary = join(dir, `xlu-dump-${hash}`);
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const tmp = `${binary}.${process.pid}.tmp`;
  execFileSync('gcc', ['-O1', '-Wall', '-Wextra', '-Werror', '-o', tmp, source, '-lxlutil', '-lxenlight'], { stdio: ['ignore', 'inherit', 'inherit'] });
  renameSync(tmp, binary);
  return binary;
}

type Kind = 'c' | 'd' | 'r';

function runBatch(records: readonly { kind: Kind; data: Uint8Array | string }[]): unknown[] {
  const binary = buildOracle();
  const chunks: Buffer[] = [];
  for (const r of records) {
    const data = typeof r.data === 'string' ? Buffer.from(r.data, 'latin1') : Buffer.from(r.data);
    chunks.push(Buffer.from(`${r.kind} ${data.length}\n`), data, Buffer.from('\n'));
  }
  const result = spawnSync(binary, ['batch'], { input: Buffer.concat(chunks), maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'ignore'] });
  if (result.status !== 0) throw new Error(`xlu-dump batch exited with ${result.status ?? result.signal}`);
  const lines = result.stdout.toString('latin1').split('\n').filter((l) => l !== '');
  if (lines.length !== records.length) throw new Error(`xlu-dump answered ${lines.length} of ${records.length} inputs`);
  return lines.map((l) => JSON.parse(l) as unknown);
}

/** Parses each xl.cfg text (latin1 strings are taken as bytes) with xlu_cfg_readdata. */
export function oracleParseCfg(texts: readonly (Uint8Array | string)[]): OracleCfg[] {
  return runBatch(texts.map((data) => ({ kind: 'c' as const, data }))) as OracleCfg[];
}

/** Parses each file with xlu_cfg_readfile. */
export function oracleParseFiles(paths: readonly string[]): OracleCfg[] {
  const out = execFileSync(buildOracle(), ['file', ...paths], { stdio: ['ignore', 'pipe', 'ignore'] }).toString('latin1');
  return out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as OracleCfg);
}

/** Parses each disk spec with xlu_disk_parse. */
export function oracleParseDisks(specs: readonly string[]): OracleDisk[] {
  return runBatch(specs.map((data) => ({ kind: 'd' as const, data }))) as OracleDisk[];
}

/** Parses each vif rate with xlu_vif_parse_rate. */
export function oracleParseRates(rates: readonly string[]): OracleRate[] {
  return runBatch(rates.map((data) => ({ kind: 'r' as const, data }))) as OracleRate[];
}
