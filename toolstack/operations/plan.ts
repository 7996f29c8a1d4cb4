// planCreate: turns a resolved domain configuration into the MicroOp[] that creates and boots it (pure).
import { OperationError } from './errors.js';
import type { MicroOp } from './micro-ops.js';

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
}

/** Options of a create plan. */
export interface CreateOptions {
  /** Leave the domain paused (xl create -p). */
  readonly paused?: boolean;
  /** Domains serving xenstore and the console (/tool/xenstored/domid, /tool/xenconsoled/domid): default 0. */
  readonly storeDomid?: number;
  readonly consoleDomid?: number;
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
  const ops: MicroOp[] = [
    { kind: 'loadKernel', kernel: input.kernel, ramdisk, memoryMiB: input.memoryMiB },
    { kind: 'createDomain', uuid: input.uuid, maxVcpus },
    { kind: 'writeDomainSkeleton', name: input.name, uuid: input.uuid },
    { kind: 'prepareBuild', maxVcpus, maxMemKiB: input.memoryMiB * 1024 + MAXMEM_SLACK_KIB, storeDomid, consoleDomid },
    { kind: 'buildDomain', memoryMiB: input.memoryMiB, cmdline },
    {
      kind: 'writeXenstoreTree', name: input.name, uuid: input.uuid, memoryKiB: input.memoryMiB * 1024, maxMemKiB: maxmemMiB * 1024,
      vcpus: input.vcpus, maxVcpus, kernel: input.kernel, ramdisk, cmdline,
    },
    { kind: 'setupConsole', backendDomid: consoleDomid, limit: XENCONSOLE_LIMIT },
    { kind: 'introduceDomain' },
  ];
  if (!options.paused) ops.push({ kind: 'unpause' });
  return ops;
}
