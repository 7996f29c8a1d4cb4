// The micro-operations `txl create` is made of: plain data, printed by --dry-run, run by execute.ts.
//
// The order mirrors libxl's domain creation (libxl_create.c libxl__domain_make, libxl_dom.c
// libxl__build_pre / libxl__build_pv / libxl__build_post, libxl_console.c): devices come in
// their own issue and slot in before `introduceDomain`.

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

/** XEN_DOMCTL_unpausedomain. */
export interface UnpauseOp {
  readonly kind: 'unpause';
}

/** One step of a create plan. */
export type MicroOp =
  | LoadKernelOp
  | CreateDomainOp
  | WriteDomainSkeletonOp
  | PrepareBuildOp
  | BuildDomainOp
  | WriteXenstoreTreeOp
  | SetupConsoleOp
  | IntroduceDomainOp
  | UnpauseOp;

/** The kinds, in the order a create plan runs them. */
export type MicroOpKind = MicroOp['kind'];
