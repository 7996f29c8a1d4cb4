// The host monitor's registration records: one JSON file per domain it looks after
// (<dir>/<domid>.json), written by `txl create` before it asks the monitor to add the domain, so a
// monitor that starts (or restarts) later picks up every domain still registered.
import { mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LifecycleError } from './errors.js';
import type { ShutdownAction, ShutdownActions } from './monitor.js';

/** Where records live unless TXL_MONITOR_DIR says otherwise (tmpfs: records do not outlive the host's boot, nor do domains). */
export const DEFAULT_MONITOR_DIR = '/run/txl/monitor';

/** One registered domain: what the monitor needs to carry out its on_* actions. */
export interface MonitorRecord {
  readonly domid: number;
  readonly name: string;
  readonly actions: ShutdownActions;
  /**
   * The resolved config the domain was created from (plain JSON), given back to the daemon's
   * `recreate` on restart. Opaque to the monitor.
   */
  readonly config: Readonly<Record<string, unknown>>;
}

const ACTIONS: readonly ShutdownAction[] = ['destroy', 'restart', 'rename-restart', 'preserve', 'coredump-destroy', 'coredump-restart', 'soft-reset'];

/** The record directory: TXL_MONITOR_DIR or DEFAULT_MONITOR_DIR. */
export function monitorDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TXL_MONITOR_DIR || DEFAULT_MONITOR_DIR;
}

/** Path of `domid`'s record. */
export function recordPath(dir: string, domid: number): string {
  return join(dir, `${domid}.json`);
}

/** Checks a parsed record; throws TXL_LC_MONITOR naming the file and the bad field. */
export function parseRecord(text: string, where: string): MonitorRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new LifecycleError('TXL_LC_MONITOR', `${where}: not JSON (${(error as Error).message})`, { details: { file: where } });
  }
  const bad = (field: string, want: string): never => {
    throw new LifecycleError('TXL_LC_MONITOR', `${where}: field '${field}' must be ${want}`, { details: { file: where, field } });
  };
  if (typeof value !== 'object' || value === null) return bad('(record)', 'an object');
  const r = value as Record<string, unknown>;
  if (typeof r.domid !== 'number' || !Number.isInteger(r.domid) || r.domid <= 0 || r.domid >= 0x7ff0) bad('domid', 'a guest domid (1..32751)');
  if (typeof r.name !== 'string' || r.name === '') bad('name', 'a non-empty string');
  if (typeof r.config !== 'object' || r.config === null) bad('config', 'an object (the resolved config)');
  const actions = r.actions as Record<string, unknown> | undefined;
  if (typeof actions !== 'object' || actions === null) return bad('actions', 'an object');
  for (const key of ['onPoweroff', 'onReboot', 'onCrash', 'onWatchdog', 'onSoftReset']) {
    const a = actions[key];
    const optional = key === 'onWatchdog' || key === 'onSoftReset';
    if ((a === undefined && !optional) || (a !== undefined && !ACTIONS.includes(a as ShutdownAction))) bad(`actions.${key}`, `one of ${ACTIONS.join(', ')}`);
  }
  return value as MonitorRecord;
}

/** Writes `record` atomically (temporary file + rename), creating the directory. */
export async function writeRecord(dir: string, record: MonitorRecord): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = recordPath(dir, record.domid);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/** Reads `domid`'s record. */
export async function readRecord(dir: string, domid: number): Promise<MonitorRecord> {
  const path = recordPath(dir, domid);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new LifecycleError('TXL_LC_MONITOR', `no monitor record for domain ${domid} (${path}): ${(error as Error).message}`, { details: { domid, file: path } });
  }
  const record = parseRecord(text, path);
  if (record.domid !== domid) throw new LifecycleError('TXL_LC_MONITOR', `${path}: holds domain ${record.domid}, not ${domid}`, { details: { domid, file: path } });
  return record;
}

/** Removes `domid`'s record (idempotent). */
export async function removeRecord(dir: string, domid: number): Promise<void> {
  await unlink(recordPath(dir, domid)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

/** Domids with a record in `dir` (none when the directory does not exist). */
export async function listRecords(dir: string): Promise<number[]> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  return names.map((n) => /^(\d+)\.json$/.exec(n)?.[1]).filter((d): d is string => d !== undefined).map(Number).sort((a, b) => a - b);
}
