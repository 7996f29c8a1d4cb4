import { describe, expect, it } from 'vitest';
import { backendPath, checkPath, domainNodes, domainPath, frontendPath, libxlDevicePath, parentPath, pathProblem, vmPath } from './paths.js';

describe('path builders', () => {
  it('build the standard paths', () => {
    expect(domainPath(3)).toBe('/local/domain/3');
    expect(frontendPath(3, 'vbd', 51712)).toBe('/local/domain/3/device/vbd/51712');
    expect(backendPath(0, 'vif', 3, 0)).toBe('/local/domain/0/backend/vif/3/0');
    expect(libxlDevicePath(3, 'console', 0)).toBe('/libxl/3/device/console/0');
    expect(domainNodes.controlShutdown(7)).toBe('/local/domain/7/control/shutdown');
    expect(domainNodes.memoryTarget(7)).toBe('/local/domain/7/memory/target');
    expect(vmPath('3f2a-11')).toBe('/vm/3f2a-11');
    expect(parentPath('/a/b')).toBe('/a');
    expect(parentPath('/a')).toBe('/');
  });
  it('refuse bad components', () => {
    expect(() => domainPath(-1)).toThrow(/invalid domid/);
    expect(() => frontendPath(1, 'v/bd', 0)).toThrow(/path component/);
    expect(() => vmPath('x y')).toThrow(/uuid/);
  });
});

describe('path validation (is_valid_nodename)', () => {
  it('accepts what xenstored accepts', () => {
    for (const ok of ['/', '/a', '/a-b_c@d/E9', 'relative/path', '/local/domain/1/' + 'a'.repeat(2048)]) expect(pathProblem(ok)).toBeUndefined();
    expect(pathProblem('@releaseDomain', { special: true })).toBeUndefined();
  });
  it('refuses what xenstored refuses, before sending', () => {
    expect(pathProblem('/a/')).toMatch(/ends in/);
    expect(pathProblem('/a//b')).toMatch(/'\/\/'/);
    expect(pathProblem('/a b')).toMatch(/contains ' '/);
    expect(pathProblem('/a.b')).toMatch(/contains '\.'/);
    expect(pathProblem('')).toMatch(/empty/);
    expect(pathProblem('@releaseDomain')).toMatch(/special/);
    expect(pathProblem('/' + 'a'.repeat(2048))).toMatch(/exceeds/);
    expect(pathProblem('/local/domain/1/' + 'a'.repeat(2049))).toMatch(/exceeds/);
    expect(() => checkPath('/x/', 'READ')).toThrow(expect.objectContaining({ code: 'TXL_XS_LIMIT', errno: 'EINVAL' }));
  });
});
