import { describe, expect, it } from 'vitest';
import { XenstoreError } from './errors.js';
import { checkPermissions, formatPermission, ownedBy, parsePermission } from './perms.js';

describe('permissions', () => {
  it('parses and formats the wire strings', () => {
    expect(parsePermission('r5')).toEqual({ domid: 5, access: 'r' });
    expect(parsePermission('b0')).toEqual({ domid: 0, access: 'b' });
    expect(parsePermission('n0x10')).toEqual({ domid: 16, access: 'n' });
    expect(parsePermission('w010')).toEqual({ domid: 8, access: 'w' });
    expect(formatPermission({ domid: 7, access: 'w' })).toBe('w7');
    expect(ownedBy(3, 'r', { domid: 0, access: 'b' }).map(formatPermission)).toEqual(['r3', 'b0']);
  });
  it('refuses malformed entries with TXL_XS_LIMIT', () => {
    for (const bad of ['x1', 'r', 'r1z', '', 'r-1']) expect(() => parsePermission(bad)).toThrow(XenstoreError);
    expect(() => checkPermissions([])).toThrow(/at least one entry/);
    expect(() => checkPermissions([{ domid: -1, access: 'r' }])).toThrow(XenstoreError);
  });
});
