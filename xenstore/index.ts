// Public API of txl's xenstore module: the wire-protocol client, the in-memory server, paths, errors.
export { XenstoreClient, XsTransaction, type ConnectOptions, type ClientOptions, type XsWatch, type XsWatchEvent } from './client.js';
export { MemoryXenstore, DEFAULT_QUOTAS, type MemoryXenstoreOptions, type XsQuotas } from './memory.js';
export { XenstoreError, isXsErrno, isWireErrno, WIRE_ERRNOS, ERRNO_NUMBERS, ERRNO_TEXT, type XsErrno, type WireErrno, type XenstoreErrorCode } from './errors.js';
export { parsePermission, formatPermission, checkPermissions, ownedBy, type XsPermission, type XsAccess } from './perms.js';
export {
  domainPath, vmPath, libxlPath, frontendPath, backendPath, libxlDevicePath, domainNodes, SPECIAL_PATHS, TOOL_XENSTORED,
  joinPath, parentPath, pathProblem, checkPath, type DeviceKind,
} from './paths.js';
export { XsType, PAYLOAD_MAX, ABS_PATH_MAX, REL_PATH_MAX, HEADER_SIZE, encodeFrame, FrameDecoder, typeName, type XsFrame } from './wire.js';
export { defaultSocketPath, defaultDevicePath, type XsTransport } from './transport.js';
