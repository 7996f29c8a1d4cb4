// Public API of toolstack operations: create plans (pure) and their executor.
export type { MicroOp, MicroOpKind, LoadKernelOp, CreateDomainOp, WriteDomainSkeletonOp, SaveDomainConfigOp, PrepareBuildOp, BuildDomainOp, WriteXenstoreTreeOp, SetupConsoleOp, IntroduceDomainOp, UnpauseOp, CheckDevicesOp, AddDiskOp, AddVifOp, WaitDevicesOp } from './micro-ops.js';
export { MICRO_OP_KINDS } from './micro-ops.js';
export { INJECT_FAILURE_ENV, parseInjectedFailure, injectedFailureHook, type InjectedFailure } from './inject.js';
export { planCreate, MAXMEM_SLACK_KIB, XENCONSOLE_LIMIT, type CreateInput, type CreateOptions } from './plan.js';
export { executeCreate, type ExecuteDeps, type CreateResult } from './execute.js';
export { OperationError, type OperationErrorCode } from './errors.js';
export { destroyDomainFully, type DestroyDeps, type DestroyStore } from './destroy.js';
export {
  XEN_LIB_DIR, userdataPath, saveDomainConfigFile, removeDomainUserdata, readDomainConfigFile, updateDomainConfigFile, retrieveDomainConfig, type RetrieveStore,
} from './userdata.js';
