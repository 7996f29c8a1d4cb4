// Unit tests of the PV DomainConfig resolver: xl's defaults, composition rules and refusals.
import { describe, expect, it } from 'vitest';
import { invalidCpuListToken, resolveDomainConfig, strtolWhole, type ResolvedConfig } from './domain.js';
import { ConfigError } from './errors.js';
import { parseXlCfg } from './xlcfg.js';

const KERNEL = 'name = "g"\nkernel = "/k"\n';
const resolve = (text: string, overrides: string[] = []): ResolvedConfig =>
  resolveDomainConfig(parseXlCfg(text, 'g.cfg'), overrides, { generateUuid: () => '11111111-2222-3333-4444-555555555555' });
function failure(text: string): ConfigError {
  try {
    resolve(text);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('resolved');
}

describe('resolveDomainConfig', () => {
  it("applies xl's and libxl's defaults", () => {
    const { config, warnings } = resolve(KERNEL);
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({
      name: 'g', uuid: '11111111-2222-3333-4444-555555555555', type: 'pv', kernel: '/k', ramdisk: undefined, cmdline: undefined,
      memoryMiB: 32, maxmemMiB: 32, vcpus: 1, maxvcpus: 1, onPoweroff: 'destroy', onReboot: 'restart', onCrash: 'destroy',
      onWatchdog: 'destroy', onSoftReset: 'soft-reset', disks: [], vifs: [],
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads numbers as strtol(,,0) does and relates memory/maxmem and vcpus/maxvcpus', () => {
    expect(resolve(`${KERNEL}memory = 0x40\n`).config).toMatchObject({ memoryMiB: 64, maxmemMiB: 64 });
    expect(resolve(`${KERNEL}memory = "010"\nmaxmem = 16\n`).config).toMatchObject({ memoryMiB: 8, maxmemMiB: 16 });
    expect(resolve(`${KERNEL}maxmem = 512\n`).config).toMatchObject({ memoryMiB: 512, maxmemMiB: 512 });
    expect(resolve(`${KERNEL}maxvcpus = 4\n`).config).toMatchObject({ vcpus: 4, maxvcpus: 4 });
    expect(resolve(`${KERNEL}vcpus = 2\nmaxvcpus = 4\n`).config).toMatchObject({ vcpus: 2, maxvcpus: 4 });
    expect(failure(`${KERNEL}vcpus = 4\nmaxvcpus = 2\n`).message).toMatch(/g\.cfg:4: maxvcpus=2 < vcpus=4/);
    expect(failure(`${KERNEL}memory = 128\nmaxmem = 64\n`).message).toMatch(/memory=128 is more than maxmem=64/);
    expect(strtolWhole(' -0x1f')).toBe(-31n);
    expect(strtolWhole('09')).toBeUndefined();
  });

  it.each([
    ['memory = "abc"\n', /^g\.cfg:3: memory="abc" is not a valid number/],
    ['memory = [64]\n', /^g\.cfg:3: memory is a list but should be a single value/],
    ['memory = 64\nmemory += 1\n', /^g\.cfg:4: can't use \+= with numbers for memory/],
    ['memory = 0\n', /^g\.cfg:3: memory="0" is smaller than the minimum 1/],
    ['on_crash = "explode"\n', /unknown on_crash action "explode": accepted are destroy, restart/],
    ['uuid = "not-a-uuid"\n', /failed to parse UUID/],
    ['type = "hvm"\n', /type "hvm" is recognised but not supported yet/],
    ['type = "pvh"\n', /type "pvh" is recognised but not supported yet/],
    ['type = ""\n', /type "hvm"/],
    ['type = "xen"\n', /invalid domain type "xen"/],
    ['type = "pv"\nbuilder = "hvm"\n', /contradicting "builder" and "type"/],
    ['disk = "xvda"\n', /disk is a single value but should be a list/],
    ['disk = ["/a,,xvda", "/b,,xvda"]\n', /g\.cfg:3: disk\[1\] "\/b,,xvda" uses vdev xvda, which disk\[0\] already uses/],
    ['disk = ["/a,,xvda", "/b,,d0p0"]\n', /uses vdev d0p0, which disk\[0\] already uses/],
    ['disk = ["/a,,floppy"]\n', /vdev "floppy" is not a virtual disk name/],
    ['disk = ["/a,qcow9,xvda"]\n', /disk specification: unknown value for format: near `qcow9'/],
    ['vif = ["mac=zz"]\n', /^g\.cfg:3: vif\[0\]: invalid mac=zz/],
    ['vif = ["rate=fast"]\n', /invalid rate in `fast'/],
    ['vif = ["", "devid=0"]\n', /vif\[1\] has devid 0, which vif\[0\] already has/],
    ['firmware = "pvgrub64"\n', /both kernel and firmware specified/],
    ['cpus = "0-3,x"\n', /^g\.cfg:3: cpus="0-3,x": invalid pcpu range "x"/],
    ['cpus = "3-1"\n', /invalid pcpu range "3-1"/],
    ['cpus = "^all"\n', /invalid pcpu range "\^all"/],
    ['maxvcpus = 2\ncpus = ["1", "2-", "3"]\n', /cpus="2-": invalid pcpu range "2-"/],
  ])('refuses %j', (extra, message) => {
    const error = failure(`${KERNEL}${extra}`);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(message);
  });

  it('needs a name and a kernel or bootloader', () => {
    expect(failure('kernel = "/k"\n')).toMatchObject({ code: 'TXL_CFG_MISSING', message: expect.stringMatching(/^g\.cfg: name is missing/) });
    expect(failure('name = "g"\n')).toMatchObject({ code: 'TXL_CFG_MISSING', message: expect.stringMatching(/neither kernel nor bootloader/) });
    expect(resolve('name = "g"\nbootloader = "pygrub"\nbootloader_args = ["-q"]\n').config).toMatchObject({ bootloader: 'pygrub', bootloaderArgs: ['-q'], kernel: undefined });
    expect(resolve('name = "g"\nfirmware = "pvgrub64"\n').config.kernel).toBe('/usr/lib/xen-4.17/boot/pvgrub64.bin');
    expect(resolve('name = "g"\ntype = "p"\nbuilder = "gen"\nkernel = "/k"\n').config.type).toBe('pv');
  });

  it('keeps valid CPULISTs as written (one per vCPU for a list, up to maxvcpus)', () => {
    expect(resolve(`${KERNEL}cpus = "0-3,^1,nodes:0,all"\n`).config.cpus).toBe('0-3,^1,nodes:0,all');
    expect(resolve(`${KERNEL}vcpus = 2\ncpus = ["0", "1-2", "bad"]\n`).config.cpus).toEqual(['0', '1-2']);
    expect(invalidCpuListToken('0,,2')).toBeUndefined();
  });

  it('composes the command line as xl does', () => {
    expect(resolve(`${KERNEL}root = "/dev/xvda ro"\n`).config.cmdline).toBe('root=/dev/xvda ro');
    expect(resolve(`${KERNEL}root = "/dev/xvda1"\nextra = "console=hvc0"\n`).config.cmdline).toBe('root=/dev/xvda1 console=hvc0');
    expect(resolve(`${KERNEL}extra = "quiet"\n`).config.cmdline).toBe('quiet');
    const both = resolve(`${KERNEL}cmdline = "c"\nroot = "/r"\n`);
    expect(both.config.cmdline).toBe('c');
    expect(both.warnings.map((w) => w.message)).toEqual(['ignoring root= and extra= in favour of cmdline=']);
  });

  it('warns about unknown keys with the nearest known key, and about ignored items', () => {
    expect(resolve(`${KERNEL}naem = "x"\n`).warnings[0]!.message).toBe("unknown setting 'naem' is ignored (did you mean 'name'?)");
    const { warnings } = resolve(`${KERNEL}memroy = 64\nvcpu = 2\nzzzzzz = 1\ndisk = ["/a,,xvda", ["x"], "/b,,xvdb"]\nvif = ["bridge=br0,foo=bar"]\n`);
    expect(warnings.map((w) => `${w.where}: ${w.message}`)).toEqual([
      "g.cfg:3: unknown setting 'memroy' is ignored (did you mean 'memory'?)",
      "g.cfg:4: unknown setting 'vcpu' is ignored (did you mean 'vcpus'?)",
      "g.cfg:5: unknown setting 'zzzzzz' is ignored",
      'g.cfg:6: disk[1] is a list, not a string: it and the disks after it are ignored (as xl does)',
      "g.cfg:7: vif[0]: unrecognized argument `foo=bar' (ignored, as xl does)",
    ]);
  });

  it('resolves disks and vifs with their device ids, overrides applied as xl does', () => {
    const { config } = resolve(`${KERNEL}disk = ["phy:/dev/vg/a,xvda,w", "/iso,,hdc,cdrom"]\nvif = ["bridge=br0", "mac=00:16:3E:01:02:03,devid=5"]\n`, ['memory=96']);
    expect(config.memoryMiB).toBe(96);
    expect(config.disks.map((d) => [d.vdev, d.devid, d.target, d.readwrite, d.isCdrom, d.format])).toEqual([
      ['xvda', 51712, '/dev/vg/a', true, false, 'raw'],
      ['hdc', 5632, '/iso', false, true, 'raw'],
    ]);
    expect(config.vifs.map((v) => [v.devid, v.bridge, v.mac])).toEqual([[0, 'br0', undefined], [5, 'xenbr0', '00:16:3e:01:02:03']]);
  });
});
