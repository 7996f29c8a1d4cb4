// The lab's pure parts: crash detection on serial lines, the QEMU command line, the wire decoder,
// --add parsing. (Booting real Xen is the lab tier's job: tests/xen/lab-*.test.ts.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAdd } from './cli.js';
import { checkMemory, crashLine, MAX_LAB_MEMORY_MIB, qemuArgs } from './machine.js';
import { encodeMessage, LineDecoder } from './protocol.js';
import { parseXenVersion } from './build.js';

describe('crash detection', () => {
  it.each([
    '[   42.1] Kernel panic - not syncing: sysrq triggered crash',
    '(XEN) Hardware Dom0 crashed: \'noreboot\' set - not rebooting.',
    '(XEN) Domain 0 (vcpu#1) crashed on cpu#0:',
    '(XEN) Panic on CPU 0:',
  ])('treats %j as a crash of Xen or dom0', (line) => {
    expect(crashLine(line)).toBe(true);
  });

  it.each([
    '(d3) Kernel panic - not syncing: VFS: Unable to mount root fs',
    '(XEN) Domain 3 (vcpu#0) crashed on cpu#1:',
    '(XEN) d3v0 Unhandled page fault',
    'txl-lab: userland up in 1.2 s',
  ])('ignores %j (a guest, or nothing)', (line) => {
    expect(crashLine(line)).toBe(false);
  });
});

describe('qemuArgs', () => {
  const image = { xen: '4.17' as const, dir: '/c', xenElf: '/c/xen.elf', kernel: '/c/vmlinuz', initrd: '/c/initrd.cpio.gz', rootImage: '/c/root.img', kernelVersion: '6.1.0-1-amd64' };
  const args = qemuArgs(image, { socketPath: '/t/agent.sock', checkout: '/work/main', shareDirs: ['/srv/a'], disks: [{ hostPath: '/d.img', readonly: true }], memoryMiB: 2048, dom0MemoryMiB: 1024, cpus: 2 });
  const after = (flag: string): string[] => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));

  it('boots Xen with dom0 and the initramfs as multiboot modules, on a CPU model dom0 survives', () => {
    expect(after('-kernel')).toEqual(['/c/xen.elf']);
    expect(after('-cpu')).toEqual(['qemu64']);
    expect(after('-initrd')[0]).toMatch(/^\/c\/vmlinuz console=hvc0 .*txl\.checkout=\/work\/main txl\.add=1,\/c\/initrd\.cpio\.gz$/);
    expect(after('-append')[0]).toContain('dom0_mem=1024M,max:1024M');
    expect(after('-append')[0]).toContain('noreboot');
  });

  it('never writes the cached root image and shares the checkout read-only', () => {
    expect(after('-drive')[0]).toBe('file=/c/root.img,if=virtio,format=raw,snapshot=on,cache=unsafe');
    expect(after('-drive')[1]).toBe('file=/d.img,if=virtio,format=raw,cache=unsafe,readonly=on');
    expect(after('-virtfs')[0]).toContain('path=/work/main,mount_tag=txlrepo,security_model=none,readonly=on');
    expect(after('-virtfs')[1]).toContain('path=/work/main/dist,mount_tag=txlc-dist,security_model=none,readonly=on');
    expect(after('-virtfs')[2]).toContain('path=/work/main/node_modules,mount_tag=txlc-node_modules,security_model=none,readonly=on');
    expect(after('-virtfs')[3]).toContain('path=/srv/a,mount_tag=txladd0');
  });

  it('puts the agent on a virtio-serial port named org.txl.agent', () => {
    expect(after('-chardev')).toContain('socket,id=agent,path=/t/agent.sock,server=on,wait=off');
    expect(after('-device')).toContain('virtserialport,bus=vser0.0,chardev=agent,name=org.txl.agent');
  });
});

describe('lab memory sizes', () => {
  it('gives the QEMU memory to -m and dom0\'s share to dom0_mem (a 4 GiB lab keeps a 1 GiB dom0)', () => {
    const image = { xen: '4.20' as const, dir: '/c', xenElf: '/c/xen.elf', kernel: '/c/vmlinuz', initrd: '/c/initrd.cpio.gz', rootImage: '/c/root.img', kernelVersion: '6.12.0-1-amd64' };
    const args = qemuArgs(image, { socketPath: '/t/a.sock', checkout: '/work/main', shareDirs: [], disks: [], memoryMiB: 4096, dom0MemoryMiB: 1024, cpus: 2 });
    expect(args[args.indexOf('-m') + 1]).toBe('4096');
    expect(args[args.indexOf('-append') + 1]).toContain('dom0_mem=1024M,max:1024M');
  });

  it('accepts the default and the 4 GiB lab', () => {
    expect(() => checkMemory(2048, 1024)).not.toThrow();
    expect(() => checkMemory(4096, 1024)).not.toThrow();
    expect(() => checkMemory(1024, 512)).not.toThrow();
  });

  it.each([
    [512, 256, 'lab memory 512 MiB: give a whole number of MiB from 1024 to 8192'],
    [MAX_LAB_MEMORY_MIB + 1, 1024, `lab memory ${MAX_LAB_MEMORY_MIB + 1} MiB`],
    [2048.5, 1024, 'lab memory 2048.5 MiB'],
    [2048, 2000, 'dom0 memory 2000 MiB: give a whole number of MiB from 512 to 1792'],
    [2048, 256, 'dom0 memory 256 MiB'],
  ])('refuses QEMU %d MiB with dom0 %d MiB', (memory, dom0, message) => {
    expect(() => checkMemory(memory, dom0)).toThrow(message);
  });
});

describe('the control channel decoder', () => {
  it('reassembles messages split anywhere, including inside a UTF-8 character', () => {
    const bytes = Buffer.from(encodeMessage({ t: 'out', id: 1, fd: 1, data: 'é' }) + encodeMessage({ t: 'exit', id: 1, status: 0 }));
    const bad: string[] = [];
    const decoder = new LineDecoder((line) => bad.push(line));
    const got: unknown[] = [];
    for (let i = 0; i < bytes.length; i += 3) got.push(...decoder.push(bytes.subarray(i, i + 3)));
    expect(got).toEqual([{ t: 'out', id: 1, fd: 1, data: 'é' }, { t: 'exit', id: 1, status: 0 }]);
    expect(bad).toEqual([]);
  });

  it('reports lines that are not messages and goes on', () => {
    const bad: string[] = [];
    const decoder = new LineDecoder((line) => bad.push(line));
    expect(decoder.push('garbage\n[1]\n{"t":"ready"}\n')).toEqual([{ t: 'ready' }]);
    expect(bad).toEqual(['garbage', '[1]']);
  });
});

describe('--add and --xen', () => {
  const dir = mkdtempSync(join(tmpdir(), 'txl-lab-add-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'f.txt'), 'x');

  it('defaults the lab path to the absolute host path', () => {
    expect(parseAdd('f.txt', dir)).toEqual({ hostPath: join(dir, 'f.txt'), labPath: join(dir, 'f.txt') });
  });

  it('takes an explicit absolute lab path after the colon', () => {
    expect(parseAdd(`${dir}/f.txt:/srv/g.txt`, '/')).toEqual({ hostPath: join(dir, 'f.txt'), labPath: '/srv/g.txt' });
  });

  it('names a missing host path', () => {
    expect(() => parseAdd('nope.txt', dir)).toThrow(/nope\.txt does not exist on this host/);
  });

  it('accepts only the lab versions', () => {
    expect(parseXenVersion('4.20')).toBe('4.20');
    expect(() => parseXenVersion('4.19')).toThrow(/unknown Xen version '4.19': the lab has 4.17 and 4.20/);
  });
});
