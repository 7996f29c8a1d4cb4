// Unit tests of disk specs and vdev device numbers (the full libxlutil comparison is in tests/integration).
import { describe, expect, it } from 'vitest';
import { parseDiskSpec, vdevToDevid } from './disk.js';
import { ConfigError } from './errors.js';

describe('parseDiskSpec', () => {
  it('reads the positional, prefixed and key=value forms', () => {
    expect(parseDiskSpec('file:/root/ubuntu.img,xvda,w')).toMatchObject({ target: '/root/ubuntu.img', vdev: 'xvda', format: 'raw', readwrite: true });
    expect(parseDiskSpec('/x.q,qcow2,xvdb,ro')).toMatchObject({ target: '/x.q', vdev: 'xvdb', format: 'qcow2', readwrite: false });
    expect(parseDiskSpec('format=vhd, vdev=xvdc, access=rw, target=/a,b')).toMatchObject({ target: '/a,b', vdev: 'xvdc', format: 'vhd' });
    expect(parseDiskSpec(',,hdc,cdrom')).toMatchObject({ target: '', vdev: 'hdc', format: 'empty', isCdrom: true, removable: true, readwrite: false });
    expect(parseDiskSpec('iscsi:iqn.x,xvda')).toMatchObject({ script: 'block-iscsi', target: 'iqn.x' });
  });

  it('rejects what xlu_disk_parse rejects, with its message', () => {
    expect(() => parseDiskSpec('/a')).toThrow(/no vdev specified in `\/a'/);
    expect(() => parseDiskSpec('/a,raw,xvda,rw,more')).toThrow(/too many positional parameters: near `more'/);
    expect(() => parseDiskSpec('foo:/a,xvda')).toThrow(ConfigError);
    expect(() => parseDiskSpec('/a,,xvda', { field: 'disk[2]' })).not.toThrow();
  });
});

describe('vdevToDevid (xen-vbd-interface(7))', () => {
  it.each([
    ['xvda', 51712], ['xvdb', 51728], ['xvda1', 51713], ['xvdp15', 202 * 256 + 15 * 16 + 15], ['xvdq', (1 << 28) + (16 << 8)],
    ['xvdaa', (1 << 28) + (26 << 8)], ['d0p1', 51713], ['sda', 2048], ['sdb2', 2066], ['hda', 768], ['hdb', 832], ['hdc', 5632], ['hdd1', 5697],
    ['51712', 51712], ['0x10', 16],
  ])('%s -> %i', (vdev, devid) => expect(vdevToDevid(vdev)).toBe(devid));

  it.each(['floppy', 'xvd', 'xvda0', 'hde', 'sdq', 'xvda256', ''])('rejects %j', (vdev) => expect(vdevToDevid(vdev)).toBeUndefined());
});
