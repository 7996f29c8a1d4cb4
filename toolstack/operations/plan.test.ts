// planCreate: the op sequence of a PV create, and the configurations it refuses.
import { describe, expect, it } from 'vitest';
import { planCreate } from './plan.js';

const base = { name: 'web', uuid: '0b5e1f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b', kernel: '/boot/vmlinuz', memoryMiB: 512, vcpus: 2 };

describe('planCreate', () => {
  it('plans load, create, skeleton, pre-build, build, tree, console, introduce, unpause', () => {
    const plan = planCreate({ ...base, ramdisk: '/boot/initrd.img', cmdline: 'root=/dev/xvda1', maxmemMiB: 1024, maxvcpus: 4 });
    expect(plan.map((o) => o.kind)).toEqual([
      'loadKernel', 'createDomain', 'writeDomainSkeleton', 'prepareBuild', 'buildDomain', 'writeXenstoreTree', 'setupConsole', 'introduceDomain', 'unpause',
    ]);
    expect(plan[3]).toEqual({ kind: 'prepareBuild', maxVcpus: 4, maxMemKiB: 512 * 1024 + 1024, storeDomid: 0, consoleDomid: 0 });
    expect(plan[5]).toMatchObject({ memoryKiB: 512 * 1024, maxMemKiB: 1024 * 1024, vcpus: 2, maxVcpus: 4, ramdisk: '/boot/initrd.img' });
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan.map((o) => JSON.parse(JSON.stringify(o))));
  });

  it('leaves the domain paused with -p', () => {
    expect(planCreate(base, { paused: true }).at(-1)!.kind).toBe('introduceDomain');
  });

  it('refuses what no domain can be built from', () => {
    expect(() => planCreate({ ...base, kernel: '' })).toThrow(/needs a kernel/);
    expect(() => planCreate({ ...base, memoryMiB: 0 })).toThrow(/memory=0/);
    expect(() => planCreate({ ...base, maxmemMiB: 256 })).toThrow(/maxmem=256 is below memory=512/);
    expect(() => planCreate({ ...base, vcpus: 3, maxvcpus: 2 })).toThrow(/maxvcpus=2 is below vcpus=3/);
    expect(() => planCreate({ ...base, name: '' })).toThrow(/name/);
  });
});
