// The Xen lab's public API: real Xen 4.17/4.20 under QEMU for tests, benchmarks and `txl lab`.
export { bootLab, checkMemory, crashLine, liveQemuCount, MAX_LAB_MEMORY_MIB, qemuArgs } from './machine.js';
export type { BootedLab, BootOptions, ExecOptions, ExecResult, LabMachine, LabProcess, LabShare, SpawnOptions } from './machine.js';
export { ensureLabImage, labCacheRoot, labGuestKernel, labGuestModules, labInputs, parseXenVersion, repoRoot, XEN_VERSIONS } from './build.js';
export type { LabImage, XenVersion } from './build.js';
export { LabError, type LabErrorCode } from './errors.js';
export { LabBrokerClient, startLabBroker, type LabBroker } from './broker.js';
export { labExec, labShell, parseAdd } from './cli.js';
