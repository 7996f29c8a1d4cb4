// Public API of the device back-ends: vbd/vif xenstore trees as libxl writes them, native hotplug (loop
// devices, bridge ports) in place of the bash scripts, attach/detach/teardown, pre-flight checks.
export {
  vbdNodes, vifNodes, writeDeviceNodes, removeDeviceNodes, randomXenMac,
  XENBUS_INITIALISING, XEN_SCRIPT_DIR, PROTOCOL_X86_64, NIC_MTU_DEFAULT, type DeviceNodes, type DeviceNodeOptions, type DeviceStore,
} from './nodes.js';
export {
  vbdHotplugAdd, vbdHotplugRemove, vifHotplugOnline, vifHotplugOffline, detachLoop, defaultVifName, waitForBackendState, realHotplugHost,
  physicalDevice, splitDev, type HotplugHost,
} from './hotplug.js';
export {
  attachDevice, hotplugDisk, hotplugVif, detachDevice, teardownDevice, teardownDomainDevices, domainDevices, listDeviceInfo, deviceLabel,
  XENBUS_INITWAIT, XENBUS_CONNECTED, XENBUS_CLOSING, XENBUS_CLOSED, DEVICE_TIMEOUT_MS,
  type AttachStore, type DeviceRef, type DeviceWaitOptions, type DeviceInfo,
} from './lifecycle.js';
export { preflightDevices, type CheckedDisk, type CheckedVif } from './preflight.js';
export { defaultHotplugHost, setHotplugHostFactory } from './host.js';
export { DeviceError, type DeviceErrorCode } from './errors.js';
export {
  blockAttach, blockDetach, networkAttach, networkDetach, formatDeviceList, formatBlockRow, formatNetworkRow, BLOCK_LIST_HEADER, NETWORK_LIST_HEADER,
  type DeviceCommandOptions,
} from './commands.js';
