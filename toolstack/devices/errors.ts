// Errors of the device back-end set-up (vbd, vif): xenstore trees, loop devices, bridge ports.
import { TxlError } from '../../common/errors.js';

/** Stable codes of DeviceError. */
export type DeviceErrorCode =
  /** The device's frontend or backend directory already exists (libxl: ERROR_DEVICE_EXISTS). */
  | 'TXL_DEV_EXISTS'
  /** A device setting txl cannot set up (unsupported backend type, no target, bad MAC). */
  | 'TXL_DEV_INVALID'
  /** The native hotplug step failed (stat, losetup, ip); hotplug-error names it in xenstore too. */
  | 'TXL_DEV_HOTPLUG'
  /** The backend did not reach the expected state in time. */
  | 'TXL_DEV_TIMEOUT'
  /** Pre-flight: a disk's target (image file or block device) does not exist. */
  | 'TXL_DEV_TARGET_MISSING'
  /** Pre-flight: a vif's bridge does not exist on this host. */
  | 'TXL_DEV_NO_BRIDGE'
  /** Pre-flight: two disks (or vifs) of one domain share a vdev/devid. */
  | 'TXL_DEV_DUPLICATE'
  /** Pre-flight: a disk's target is attached to another domain and one of them writes to it. */
  | 'TXL_DEV_IN_USE'
  /** A device named on the command line is not attached to the domain. */
  | 'TXL_DEV_NOT_FOUND';

/** An error raised while setting up or tearing down a device. */
export class DeviceError extends TxlError<DeviceErrorCode> {}
