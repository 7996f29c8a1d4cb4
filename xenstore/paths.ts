// Typed builders for the standard xenstore paths libxl and the PV drivers use, and path validation.
import { XenstoreError } from './errors.js';
import { ABS_PATH_MAX, REL_PATH_MAX } from './wire.js';

/** Backend/frontend device kinds txl deals with. */
export type DeviceKind = 'vbd' | 'vif' | 'console' | 'vkbd' | 'vfb' | 'qdisk' | '9pfs' | (string & {});

/** /local/domain/<domid> */
export function domainPath(domid: number): string {
  return `/local/domain/${checkDomid(domid)}`;
}

/** /vm/<uuid> */
export function vmPath(uuid: string): string {
  if (!/^[0-9a-fA-F-]+$/.test(uuid)) throw new XenstoreError('EINVAL', `invalid VM uuid '${uuid}' for /vm/<uuid>`, { code: 'TXL_XS_LIMIT' });
  return `/vm/${uuid}`;
}

/** /libxl/<domid> (libxl's private per-domain area). */
export function libxlPath(domid: number): string {
  return `/libxl/${checkDomid(domid)}`;
}

/** Frontend directory: /local/domain/<domid>/device/<kind>/<devid> */
export function frontendPath(domid: number, kind: DeviceKind, devid: number): string {
  return `${domainPath(domid)}/device/${checkComponent(kind)}/${checkDevid(devid)}`;
}

/** Backend directory: /local/domain/<backend>/backend/<kind>/<frontend domid>/<devid> */
export function backendPath(backendDomid: number, kind: DeviceKind, frontendDomid: number, devid: number): string {
  return `${domainPath(backendDomid)}/backend/${checkComponent(kind)}/${checkDomid(frontendDomid)}/${checkDevid(devid)}`;
}

/** libxl's device record: /libxl/<domid>/device/<kind>/<devid> */
export function libxlDevicePath(domid: number, kind: DeviceKind, devid: number): string {
  return `${libxlPath(domid)}/device/${checkComponent(kind)}/${checkDevid(devid)}`;
}

/** Well-known nodes below /local/domain/<domid>. */
export const domainNodes = {
  name: (d: number) => `${domainPath(d)}/name`,
  domid: (d: number) => `${domainPath(d)}/domid`,
  vm: (d: number) => `${domainPath(d)}/vm`,
  memoryTarget: (d: number) => `${domainPath(d)}/memory/target`,
  memoryStaticMax: (d: number) => `${domainPath(d)}/memory/static-max`,
  memoryVideoram: (d: number) => `${domainPath(d)}/memory/videoram`,
  controlShutdown: (d: number) => `${domainPath(d)}/control/shutdown`,
  controlSysrq: (d: number) => `${domainPath(d)}/control/sysrq`,
  controlFeature: (d: number, feature: string) => `${domainPath(d)}/control/feature-${checkComponent(feature)}`,
  storeRingRef: (d: number) => `${domainPath(d)}/store/ring-ref`,
  storePort: (d: number) => `${domainPath(d)}/store/port`,
  consoleRingRef: (d: number) => `${domainPath(d)}/console/ring-ref`,
  consolePort: (d: number) => `${domainPath(d)}/console/port`,
  consoleTty: (d: number) => `${domainPath(d)}/console/tty`,
  consoleLimit: (d: number) => `${domainPath(d)}/console/limit`,
  consoleType: (d: number) => `${domainPath(d)}/console/type`,
  cpuAvailability: (d: number, vcpu: number) => `${domainPath(d)}/cpu/${checkDevid(vcpu)}/availability`,
  data: (d: number) => `${domainPath(d)}/data`,
  drivers: (d: number) => `${domainPath(d)}/drivers`,
  attr: (d: number) => `${domainPath(d)}/attr`,
  error: (d: number) => `${domainPath(d)}/error`,
  device: (d: number) => `${domainPath(d)}/device`,
  backend: (d: number) => `${domainPath(d)}/backend`,
} as const;

/** Special watch paths of xenstored. */
export const SPECIAL_PATHS = { introduceDomain: '@introduceDomain', releaseDomain: '@releaseDomain' } as const;

/** /tool/xenstored: created by xenstored at start. */
export const TOOL_XENSTORED = '/tool/xenstored';

/** Joins path components with '/', handling a root parent. */
export function joinPath(parent: string, child: string): string {
  return parent === '/' ? `/${child}` : `${parent}/${child}`;
}

/** Parent of an absolute path ("/a/b" -> "/a", "/a" -> "/"). */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Characters C xenstored accepts in node names (valid_chars in xenstored_core.c). */
const VALID_CHARS = /^[A-Za-z0-9\-/_@]*$/;

/**
 * Why `path` would be refused by xenstored, or undefined if it is acceptable.
 * Mirrors is_valid_nodename (xenstored_core.c): '/'-rooted (relative paths are allowed here; the
 * server resolves them), no trailing '/', no '//', only [A-Za-z0-9-/_@], and at most 2048 characters
 * after "/local/domain/<id>/" (3072 in all). Special "@..." names are accepted where `special` is set.
 */
export function pathProblem(path: string, opts: { special?: boolean } = {}): string | undefined {
  if (path.length === 0) return 'the path is empty';
  if (path.startsWith('@')) {
    if (!opts.special) return `'${path}' is a special watch name; it is only valid for watch, unwatch and set-permissions`;
    if (path.length > REL_PATH_MAX) return `special name longer than ${REL_PATH_MAX} characters`;
    return VALID_CHARS.test(path) ? undefined : `'${path}' contains characters outside [A-Za-z0-9-/_@]`;
  }
  if (path.length > 1 && path.endsWith('/')) return `'${path}' ends in '/'`;
  if (path.includes('//')) return `'${path}' contains '//'`;
  if (!VALID_CHARS.test(path)) {
    const bad = [...path].find((c) => !VALID_CHARS.test(c)) ?? '';
    return `'${path}' contains '${bad}': only A-Z a-z 0-9 - / _ @ are allowed`;
  }
  if (path.startsWith('/')) {
    const m = /^\/local\/domain\/(\d{1,5})\//.exec(path);
    const base = m ? m[0].length : 0;
    if (path.length > base + REL_PATH_MAX || path.length > ABS_PATH_MAX) {
      return `path of ${path.length} characters exceeds the limit (${REL_PATH_MAX} below /local/domain/<id>/, ${ABS_PATH_MAX} in all)`;
    }
  } else if (path.length > REL_PATH_MAX) {
    return `relative path of ${path.length} characters exceeds XENSTORE_REL_PATH_MAX (${REL_PATH_MAX})`;
  }
  return undefined;
}

/** Throws XenstoreError(EINVAL, TXL_XS_LIMIT) when `path` would be refused by xenstored. */
export function checkPath(path: string, operation: string, opts: { special?: boolean } = {}): void {
  const problem = pathProblem(path, opts);
  if (problem) throw new XenstoreError('EINVAL', `invalid xenstore path for ${operation}: ${problem}`, { code: 'TXL_XS_LIMIT', operation, path });
}

function checkDomid(domid: number): number {
  if (!Number.isInteger(domid) || domid < 0 || domid > 0x7fef) {
    throw new XenstoreError('EINVAL', `invalid domid ${domid}: expected an integer 0..32751`, { code: 'TXL_XS_LIMIT' });
  }
  return domid;
}

function checkDevid(devid: number): number {
  if (!Number.isInteger(devid) || devid < 0 || devid > 0xffffffff) {
    throw new XenstoreError('EINVAL', `invalid device id ${devid}: expected a non-negative integer`, { code: 'TXL_XS_LIMIT' });
  }
  return devid;
}

function checkComponent(name: string): string {
  if (!/^[A-Za-z0-9\-_@]+$/.test(name)) {
    throw new XenstoreError('EINVAL', `invalid path component '${name}': only A-Z a-z 0-9 - _ @ are allowed`, { code: 'TXL_XS_LIMIT' });
  }
  return name;
}
