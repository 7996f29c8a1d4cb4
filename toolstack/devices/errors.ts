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
  | 'TXL_DEV_TIMEOUT';

/** An error raised while setting up or tearing down a device. */
export class DeviceError extends TxlError<DeviceErrorCode> {}
