// planCreate: turns a resolved domain configuration into the MicroOp[] that creates and boots it (pure).
import type { DomainConfig, ResolvedDisk, VifSpec } from '../config/index.js';
import { libxlDomainConfig } from '../config/libxl-json.js';
import { DEVICE_TIMEOUT_MS, randomXenMac } from '../devices/index.js';
import { OperationError } from './errors.js';
import type { AddDiskOp, AddVifOp, MicroOp } from './micro-ops.js';

/**
 * The fields of a resolved DomainConfig (toolstack/config) that creating a PV domain needs.
 * Structural, so a DomainConfig can be passed as is.
 */
export interface CreateInput {
  readonly name: string;
  readonly uuid: string;
  readonly kernel: string;
  readonly ramdisk?: string | null | undefined;
  readonly cmdline?: string | null | undefined;
  readonly memoryMiB: number;
  readonly maxmemMiB?: number | undefined;
  readonly vcpus: number;
  readonly maxvcpus?: number | undefined;
  /** disk= (resolved: devid known). */
  readonly disks?: readonly ResolvedDisk[];
  /** vif=. */
  readonly vifs?: readonly VifSpec[];
}

/** Options of a create plan. */
export interface CreateOptions {
  /** Leave the domain paused (xl create -p). */
  readonly paused?: boolean;
  /** Domains serving xenstore and the console (/tool/xenstored/domid, /tool/xenconsoled/domid): default 0. */
  readonly storeDomid?: number;
  readonly consoleDomid?: number;
  /** Random source for the MACs of vifs without mac= (default Math.random). */
  readonly random?: () => number;
  /** Bound on each device's wait for its backend (default DEVICE_TIMEOUT_MS). */
  readonly deviceTimeoutMs?: number;
  /**
   * The whole resolved config, to save as libxl's userdata (userdata-d.<domid>.<uuid>.libxl-json) so
   * that `xl list -l` and `txl list -l` show the domain; omitted: nothing is saved.
   */
  readonly saveConfig?: DomainConfig | undefined;
}

/** LIBXL_MAXMEM_CONSTANT: max_mem is the target plus 1 MiB. */
export const MAXMEM_SLACK_KIB = 1024;
/** LIBXL_XENCONSOLE_LIMIT. */
export const XENCONSOLE_LIMIT = 1048576;

function fail(message: string, field: string): never {
  throw new OperationError('TXL_CREATE_CONFIG', message, { details: { field } });
}

/** Builds the create plan. Throws TXL_CREATE_CONFIG for values no domain can be built from. */
export function planCreate(input: CreateInput, options: CreateOptions = {}): MicroOp[] {
  if (!input.name) fail('the domain needs a name (name=)', 'name');
  if (!input.kernel) fail('a PV domain needs a kernel (kernel=)', 'kernel');
  if (!Number.isInteger(input.memoryMiB) || input.memoryMiB <= 0) fail(`memory=${input.memoryMiB} is not a positive number of MiB`, 'memory');
  const maxmemMiB = input.maxmemMiB ?? input.memoryMiB;
  if (maxmemMiB < input.memoryMiB) fail(`maxmem=${maxmemMiB} is below memory=${input.memoryMiB}`, 'maxmem');
  if (!Number.isInteger(input.vcpus) || input.vcpus < 1) fail(`vcpus=${input.vcpus} must be at least 1`, 'vcpus');
  const maxVcpus = input.maxvcpus ?? input.vcpus;
  if (maxVcpus < input.vcpus) fail(`maxvcpus=${maxVcpus} is below vcpus=${input.vcpus}`, 'maxvcpus');
  const ramdisk = input.ramdisk ?? undefined;
  const cmdline = input.cmdline ?? '';
  const storeDomid = options.storeDomid ?? 0;
  const consoleDomid = options.consoleDomid ?? 0;
  const timeoutMs = options.deviceTimeoutMs ?? DEVICE_TIMEOUT_MS;
  const disks: AddDiskOp[] = (input.disks ?? []).map((disk, i) => ({ kind: 'addDisk', field: `disk[${i}]`, disk, backendDomid: 0, timeoutMs }));
  const vifs: AddVifOp[] = (input.vifs ?? []).map((vif, i) => ({
    kind: 'addVif', field: `vif[${i}]`, vif, mac: vif.mac ?? randomXenMac(options.random), backendDomid: 0, timeoutMs,
  }));
  const devices = [...disks.map((d) => `${d.field} ${d.disk.vdev}`), ...vifs.map((v) => `${v.field} ${v.mac}`)];
  const ops: MicroOp[] = [
    { kind: 'loadKernel', kernel: input.kernel, ramdisk, memoryMiB: input.memoryMiB },
    ...(devices.length ? [{ kind: 'checkDevices', devices } as const] : []),
    { kind: 'createDomain', uuid: input.uuid, maxVcpus },
    { kind: 'writeDomainSkeleton', name: input.name, uuid: input.uuid },
    ...(options.saveConfig ? [{ kind: 'saveDomainConfig', uuid: input.uuid, config: libxlDomainConfig(options.saveConfig, vifs.map((v) => v.mac)) } as const] : []),
    ...disks,
    ...vifs,
    { kind: 'prepareBuild', maxVcpus, maxMemKiB: input.memoryMiB * 1024 + MAXMEM_SLACK_KIB, storeDomid, consoleDomid },
    { kind: 'buildDomain', memoryMiB: input.memoryMiB, cmdline },
    {
      kind: 'writeXenstoreTree', name: input.name, uuid: input.uuid, memoryKiB: input.memoryMiB * 1024, maxMemKiB: maxmemMiB * 1024,
      vcpus: input.vcpus, maxVcpus, kernel: input.kernel, ramdisk, cmdline,
    },
    { kind: 'setupConsole', backendDomid: consoleDomid, limit: XENCONSOLE_LIMIT },
    { kind: 'introduceDomain' },
    ...(devices.length ? [{ kind: 'waitDevices', devices } as const] : []),
  ];
  if (!options.paused) ops.push({ kind: 'unpause' });
  return ops;
}
