// The micro-operations `txl create` is made of: plain data, printed by --dry-run, run by execute.ts.
//
// The order mirrors libxl's domain creation (libxl_create.c libxl__domain_make, libxl_dom.c
// libxl__build_pre / libxl__build_pv / libxl__build_post, libxl_console.c). Devices are checked
// before the domain exists, their nodes written right after the skeleton (their hotplug then runs in
// the background, overlapping the build, all devices at once), and waited for before unpausing.
import type { ResolvedDisk, VifSpec } from '../config/index.js';
import type { LibxlJson } from '../config/libxl-json.js';

/** Read and check the kernel (and initrd), and plan the memory layout, before any domain exists. */
export interface LoadKernelOp {
  readonly kind: 'loadKernel';
  readonly kernel: string;
  readonly ramdisk: string | undefined;
  readonly memoryMiB: number;
}

/** XEN_DOMCTL_createdomain (paused, PV, grant table v1). */
export interface CreateDomainOp {
  readonly kind: 'createDomain';
  readonly uuid: string;
  readonly maxVcpus: number;
}

/** The xenstore skeleton libxl__domain_make writes right after createdomain (one transaction). */
export interface WriteDomainSkeletonOp {
  readonly kind: 'writeDomainSkeleton';
  readonly name: string;
  readonly uuid: string;
}

/** libxl__build_pre: max_vcpus (creates the vCPUs), max_mem (target + 1 MiB), event channels for xenstore and console. */
export interface PrepareBuildOp {
  readonly kind: 'prepareBuild';
  readonly maxVcpus: number;
  readonly maxMemKiB: number;
  readonly storeDomid: number;
  readonly consoleDomid: number;
}

/** The PV build (domain-builder buildPvDomain). */
export interface BuildDomainOp {
  readonly kind: 'buildDomain';
  readonly memoryMiB: number;
  readonly cmdline: string;
}

/** libxl__build_post's xenstore writes: memory, store, cpu availability, /vm image info. */
export interface WriteXenstoreTreeOp {
  readonly kind: 'writeXenstoreTree';
  readonly name: string;
  readonly uuid: string;
  readonly memoryKiB: number;
  readonly maxMemKiB: number;
  readonly vcpus: number;
  readonly maxVcpus: number;
  readonly kernel: string;
  readonly ramdisk: string | undefined;
  readonly cmdline: string;
}

/** The primary console's frontend and backend nodes, so that xenconsoled serves it. */
export interface SetupConsoleOp {
  readonly kind: 'setupConsole';
  readonly backendDomid: number;
  /** LIBXL_XENCONSOLE_LIMIT: bytes of buffered output. */
  readonly limit: number;
}

/** XS_INTRODUCE: xenstored maps the store ring (grant ref 1) and fires @introduceDomain. */
export interface IntroduceDomainOp {
  readonly kind: 'introduceDomain';
}

/**
 * Pre-flight checks of the plan's disks and vifs (the addDisk/addVif ops) before anything is created:
 * targets exist, bridges exist, no duplicated vdev, no image another domain has with either side writable.
 */
export interface CheckDevicesOp {
  readonly kind: 'checkDevices';
  /** The devices checked, for people ("disk[0] xvda", "vif[0]"). */
  readonly devices: readonly string[];
}

/**
 * A disk's frontend and backend nodes (libxl device_disk_add), then, in the background, InitWait and
 * the native block hotplug (a loop device for an image file).
 */
export interface AddDiskOp {
  readonly kind: 'addDisk';
  /** Where it came from: disk[N]. */
  readonly field: string;
  readonly disk: ResolvedDisk;
  readonly backendDomid: number;
  /** Bound on the wait for the backend's InitWait. */
  readonly timeoutMs: number;
}

/** A vif's nodes (libxl__device_nic_add), then, in the background, InitWait and native vif-bridge online. */
export interface AddVifOp {
  readonly kind: 'addVif';
  /** Where it came from: vif[N]. */
  readonly field: string;
  readonly vif: VifSpec;
  /** mac= or xl's random 00:16:3e:xx:xx:xx, decided when planning. */
  readonly mac: string;
  readonly backendDomid: number;
  readonly timeoutMs: number;
}

/**
 * Waits for every device's hotplug to finish (hotplug-status=connected, backend at InitWait or later:
 * Connected needs the guest's frontend, which only runs once unpaused). Fails naming the device.
 */
export interface WaitDevicesOp {
  readonly kind: 'waitDevices';
  readonly devices: readonly string[];
}

/**
 * libxl's saved domain configuration (userdata-d.<domid>.<uuid>.libxl-json): what `xl list -l` and
 * `txl list -l` print for the domain. The directory is the executor's (ExecuteDeps.userdataDir).
 */
export interface SaveDomainConfigOp {
  readonly kind: 'saveDomainConfig';
  readonly uuid: string;
  readonly config: LibxlJson;
}

/** XEN_DOMCTL_unpausedomain. */
export interface UnpauseOp {
  readonly kind: 'unpause';
}

/** One step of a create plan. */
export type MicroOp =
  | LoadKernelOp
  | CreateDomainOp
  | WriteDomainSkeletonOp
  | SaveDomainConfigOp
  | PrepareBuildOp
  | BuildDomainOp
  | WriteXenstoreTreeOp
  | SetupConsoleOp
  | IntroduceDomainOp
  | CheckDevicesOp
  | AddDiskOp
  | AddVifOp
  | WaitDevicesOp
  | UnpauseOp;

/** The kinds, in the order a create plan runs them. */
export type MicroOpKind = MicroOp['kind'];

/** Every MicroOpKind, in the order a create plan runs them (for validating names people type). */
export const MICRO_OP_KINDS = [
  'loadKernel', 'checkDevices', 'createDomain', 'writeDomainSkeleton', 'saveDomainConfig', 'addDisk', 'addVif',
  'prepareBuild', 'buildDomain', 'writeXenstoreTree', 'setupConsole', 'introduceDomain', 'waitDevices', 'unpause',
] as const satisfies readonly MicroOpKind[];

// A kind added to MicroOp and not to MICRO_OP_KINDS fails to compile here.
const allKindsListed: Exclude<MicroOpKind, (typeof MICRO_OP_KINDS)[number]> extends never ? true : never = true;
void allKindsListed;
