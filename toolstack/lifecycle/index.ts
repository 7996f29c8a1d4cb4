// Public API of the lifecycle module: day-2 requests (shutdown, reboot, rename, memory, vCPUs, sysrq),
// domain events (@releaseDomain + getdomaininfo) and the monitor that carries out on_* actions.
export {
  requestShutdown, sendSysrq, renameDomain, setMaxMemory, setMemoryTarget, setVcpusOnline, parseMemSizeKb, parseVcpuCount,
  MAXMEM_CONSTANT_KIB, MIN_DOM0_MEM_KIB, PVCONTROL_ACK_TIMEOUT_MS,
  type PvControlCommand, type ShutdownMethod, type ShutdownRequestOptions,
} from './control.js';
export { watchDomainEvents, waitForDomains, startWaitingForDomains, type DomainWaiter, checkDomains, SHUTDOWN_REASON_NAMES, type DomainEvent, type DomainEventWatch } from './events.js';
export {
  DomainMonitor, superviseDomain, destroyDomainAndNodes, actionFor, preserveSuffix,
  type ShutdownAction, type ShutdownActions, type MonitoredDomain, type MonitorEvent, type MonitorDeps,
} from './monitor.js';
export { asLifecycleStore, type LifecycleStore } from './store.js';
export { LifecycleError, type LifecycleErrorCode } from './errors.js';
export { MonitorDaemon, DEFAULT_MONITOR_IDLE_MS, type MonitorDaemonOptions, type MonitorRequest, type MonitorReply } from './daemon.js';
export {
  registerWithMonitor, askMonitor, spawnMonitorDaemon, monitorSocketPath, DEFAULT_MONITOR_SOCKET, DEFAULT_MONITOR_LOG,
  type RegisterOptions, type RegisterOutcome,
} from './client.js';
export { writeRecord, readRecord, removeRecord, listRecords, parseRecord, monitorDir, recordPath, DEFAULT_MONITOR_DIR, type MonitorRecord } from './registry.js';
