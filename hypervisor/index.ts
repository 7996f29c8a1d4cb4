// Public API of the hypervisor module: the Hypervisor interface, its two backends, errors and ABI helpers.
export type {
  Hypervisor, XenVersionInfo, PhysInfo, HostExtras, DomainInfo, DomainSchedParams, CreateDomainOptions, VcpuInfo, ShutdownReason, EventChannelDevice,
} from './hypervisor.js';
export { uuidFromBytes, uuidToBytes, decodeDomainFlags, matchRequestedDomain } from './hypervisor.js';
export { SimulatedHypervisor, type SimulatorOptions, type SimulatorState, type SimEvent } from './simulator.js';
export { openHypervisor, openSimulatorFile, defaultSimulatorStatePath } from './open.js';
export { HypervisorError, type HypervisorErrorCode, noSuchDomain } from './errors.js';
export { SHUTDOWN_REASON, XEN_PAGE_SIZE, GNTTAB_RESERVED_CONSOLE, GNTTAB_RESERVED_XENSTORE } from './abi/constants.js';
export { vcpu_guest_context, cpu_user_regs } from './abi/structs.js';

/** Opens the privcmd backend (real Xen). Loaded lazily so that importing this module never loads koffi. */
export async function openPrivcmdHypervisor(): Promise<import('./hypervisor.js').Hypervisor> {
  const backend = await import('./privcmd/backend.js');
  return backend.openPrivcmdHypervisor();
}
