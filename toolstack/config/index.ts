// Public API of toolstack/config: the xl.cfg language, disk and vif specs, and the resolved PV DomainConfig.
export { parseXlCfg, type XlCfg, type XlCfgSetting, type XlCfgValue, type ParseXlCfgOptions } from './xlcfg.js';
export { parseDiskSpec, parseDiskSpecRaw, vdevToDevid, type DiskSpec, type DiskFormat, type DiskBackendType, type DiskSpecification, type DiskParseResult } from './disk.js';
export { parseVifSpec, parseVifRate, type VifSpec, type VifRate, type VifParseResult } from './vif.js';
export {
  resolveDomainConfig, strtolWhole, invalidCpuListToken, DEFAULT_FIRMWARE_DIR, DEFAULT_MEMORY_MIB,
  type DomainConfig, type ResolvedDisk, type ResolvedConfig, type ConfigWarning, type ResolveOptions, type ShutdownAction,
} from './domain.js';
export { readXlCfgFile, MAX_CONFIG_BYTES } from './read.js';
export { KNOWN_XL_KEYS } from './known-keys.js';
export { ConfigError, type ConfigErrorCode } from './errors.js';
