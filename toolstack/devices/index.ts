// Public API of the device back-ends (not yet wired into create): vbd/vif xenstore trees as libxl
// writes them, and native hotplug (loop devices, bridge ports) in place of the bash scripts.
export {
  vbdNodes, vifNodes, writeDeviceNodes, removeDeviceNodes, randomXenMac,
  XENBUS_INITIALISING, XEN_SCRIPT_DIR, PROTOCOL_X86_64, NIC_MTU_DEFAULT, type DeviceNodes, type DeviceNodeOptions, type DeviceStore,
} from './nodes.js';
export {
  vbdHotplugAdd, vbdHotplugRemove, vifHotplugOnline, waitForBackendState, realHotplugHost, physicalDevice, splitDev, type HotplugHost,
} from './hotplug.js';
export { DeviceError, type DeviceErrorCode } from './errors.js';
