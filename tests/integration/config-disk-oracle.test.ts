// Differential tests: txl's disk-spec parser against xlu_disk_parse (Xen 4.17 libxlutil, tests/oracle) on every
// example of xl-disk-configuration(5), the disks of the corpus and generated specs.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDiskSpecRaw, type DiskSpec } from '../../toolstack/config/disk.js';
import { parseXlCfg } from '../../toolstack/config/xlcfg.js';
import { oracleParseDisks, type OracleDisk } from '../oracle/oracle.js';

const corpus = join(dirname(fileURLToPath(import.meta.url)), '..', 'corpus');

const defbool = (b: boolean | undefined): unknown => (b === undefined ? 'default' : b);

/** txl's DiskSpec in xlu-dump's libxl_device_disk field names. */
function asLibxl(d: DiskSpec): Record<string, unknown> {
  return {
    backend_domid: 0, backend_domname: d.backendDomname ?? null, pdev_path: d.target ?? null, vdev: d.vdev ?? null, backend: d.backendType,
    format: d.format, script: d.script ?? null, removable: d.removable ? 1 : 0, readwrite: d.readwrite ? 1 : 0, is_cdrom: d.isCdrom ? 1 : 0,
    direct_io_safe: d.directIoSafe, discard_enable: defbool(d.discard), specification: d.specification, colo_enable: defbool(d.coloEnable),
    colo_restore_enable: 'default', colo_host: d.coloHost ?? null, colo_port: d.coloPort, colo_export: d.coloExport ?? null,
    active_disk: d.activeDisk ?? null, hidden_disk: d.hiddenDisk ?? null, trusted: defbool(d.trusted),
  };
}

/** A description of how txl and libxlutil differ on one spec, or undefined. */
function disagreement(spec: string, oracle: OracleDisk): string | undefined {
  const mine = parseDiskSpecRaw(spec);
  const theirFirst = (oracle.report ?? '').split('\n')[0] ?? '';
  if (oracle.crash !== undefined) return `libxlutil aborted on ${JSON.stringify(spec)}`;
  if ((oracle.rc !== 0) !== (mine.errors.length > 0)) return `accept/reject differs: libxlutil rc ${oracle.rc} (${theirFirst}), txl ${mine.errors[0] ?? 'accepted'}`;
  if (oracle.rc !== 0) return theirFirst === mine.errors[0] ? undefined : `first error differs:\n  libxlutil: ${theirFirst}\n  txl:       ${mine.errors[0]}`;
  const a = JSON.stringify(oracle.disk);
  const b = JSON.stringify(asLibxl(mine.disk));
  return a === b ? undefined : `disk differs:\n  libxlutil: ${a}\n  txl:       ${b}`;
}

function check(specs: string[]): { problems: string[]; accepted: number } {
  const answers = oracleParseDisks(specs);
  const problems = specs.flatMap((s, i) => {
    const d = disagreement(s, answers[i]!);
    return d ? [`${JSON.stringify(s)}: ${d}`] : [];
  });
  return { problems, accepted: answers.filter((a) => a.rc === 0).length };
}

describe('disk specs vs xlu_disk_parse (differential)', () => {
  it('agrees on every example of xl-disk-configuration(5)', () => {
    const specs = readFileSync(join(corpus, 'man', 'xl-disk-configuration.5-examples.txt'), 'latin1').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(specs.length).toBeGreaterThanOrEqual(10);
    const { problems } = check(specs);
    expect(problems).toEqual([]);
    // Every example is a complete disk except the prefix illustration "tap:aio:/some/path" (no vdev).
    const rejected = specs.filter((s) => parseDiskSpecRaw(s).errors.length > 0);
    expect(rejected).toEqual(['tap:aio:/some/path']);
  });

  it('agrees on every disk of the xl.cfg corpus', () => {
    const specs: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (name.endsWith('.cfg')) {
          try {
            const disk = parseXlCfg(readFileSync(path), path).get('disk')?.value;
            if (Array.isArray(disk)) for (const d of disk) if (typeof d === 'string') specs.push(d);
          } catch {
            // files libxlutil rejects have no disks to compare
          }
        }
      }
    };
    walk(corpus);
    expect(specs.length).toBeGreaterThanOrEqual(5);
    expect(check(specs).problems).toEqual([]);
  });

  it('agrees on hand-picked edge cases', () => {
    const specs = [
      'file:/root/ubuntu.img,xvda,w', 'phy:/dev/vg/lv,xvda,w', 'tap:aio:/x,xvda,r', 'tap2:tapdisk:aio:/x,xvdb', 'qcow2:/x.q,xvdc,ro', 'vhd:/x,hda',
      'iscsi:iqn.2001-05.com.example:t1,xvda,w', 'nbd:host:1234,xvda', 'drbd:res0,xvda', 'foo:/x,xvda', 'c:foo,xvda', 'raw:abc,xvda',
      '/x,qcow2,xvda,rw', '/x,,xvda,,', '/x,raw,xvda,rw,extra', 'vdev=xvda,target=/a,b,c', 'target=/a,vdev=xvda', 'vdev=xvda', '/x',
      ',,hdc,cdrom', ',hdc:cdrom,r', 'hdc:cdrom', '/x,,hdc:disk', '/x,,hdc:floppy', 'cdrom,vdev=hdc', 'devtype=cdrom,vdev=hdc,target=/iso',
      'devtype=floppy,vdev=x,target=/y', 'access=rwx,vdev=xvda,target=/x', 'format=vmdk,vdev=xvda,target=/x', 'format=raw,format=qcow2,vdev=a,target=b',
      'format=raw,format=raw,vdev=a,target=b', 'backendtype=tap,vdev=a,target=b', 'backendtype=foo,vdev=a,target=b', 'backend=dd,backend=ee,vdev=a,target=/b',
      'specification=virtio,backendtype=standalone,vdev=a,target=b', 'specification=pci,vdev=a,target=b', 'script=block-x,vdev=a,target=b',
      'direct-io-safe,discard,vdev=a,target=b', 'no-discard,trusted,vdev=a,target=b', 'untrusted,vdev=a,target=b', 'colo,colo-host=h,colo-port=9000,colo-export=e,active-disk=a1,hidden-disk=h1,vdev=a,target=b',
      'colo-port=x,vdev=a,target=b', 'no-colo,vdev=a,target=b', 'foo=bar,vdev=a,target=b', 'foo=b,vdev=a,target=b', '=x', 'xvda,=', '/x,xvda=1',
      '  /x , raw , xvda , rw', ' /x,\txvda', '/x,,xvda,w,', 'vdev=,target=/x', 'vdev=a,vdev=b,target=/x', 'vdev=,vdev=b,target=/x', '', ',', ',,,', 'Foo=bar',
      '/x,xvda', 'file:/x,raw,xvda', 'phy:/dev/sda,hda:cdrom,r', '/a b,,xvda', 'target=', 'target=,vdev=xvda', 'vdev=xvda,target=a,', 'vdev=xvda,target=a,,',
      '/x,,xvda,ro,cdrom', 'cdrom', 'cdrom,', 'discard', 'a:b:c,,xvda', '/x,,xvda:cdrom',
    ];
    const { problems, accepted } = check(specs);
    expect(problems).toEqual([]);
    expect(accepted).toBeGreaterThan(20);
  });

  it('agrees on 3,000 generated specs per run', () => {
    const pieces = fc.constantFrom(
      '/img', '/dev/vg/lv', 'xvda', 'hdc', 'raw', 'qcow2', 'w', 'r', 'ro', 'rw', '', 'cdrom', 'hdc:cdrom', 'file:', 'phy:', 'tap:', 'aio:', 'qcow2:', 'iscsi:',
      'foo:', 'format=raw', 'format=vhd', 'vdev=xvdb', 'access=ro', 'devtype=cdrom', 'devtype=disk', 'backend=dom1', 'backendtype=phy', 'script=s',
      'discard', 'no-discard', 'trusted', 'direct-io-safe', 'colo-port=1', 'specification=xen', 'target=/t', 'target=/t,x', 'x=y', 'Bad', '=', ' ', ':',
    );
    const seed = Number(process.env.TXL_FUZZ_SEED ?? Date.now() % 2 ** 31);
    const opt = <T,>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | ''> => fc.option(arb, { nil: '' as const });
    const positional = fc
      .tuple(opt(fc.constantFrom('file:', 'phy:', 'tap:aio:', 'qcow2:', 'raw:', 'iscsi:', 'foo:')), fc.constantFrom('/img', '/dev/vg/lv', '', 'a:b'),
        opt(fc.constantFrom('raw', 'qcow2', '', 'vmdk')), fc.constantFrom('xvda', 'hdc', 'hdc:cdrom', 'sdb:disk', ''), opt(fc.constantFrom('w', 'r', 'ro', 'rw', 'x', '')))
      .map(([prefix, target, format, vdev, access]) => [prefix + target, ...(format === '' ? [] : [format]), vdev, ...(access === '' ? [] : [access])]);
    const keywords = fc.array(pieces, { maxLength: 3 });
    const specs = fc.sample(
      fc.tuple(keywords, fc.oneof(positional, fc.constant([] as string[])), keywords, fc.constantFrom(',', ', ', ',,', ',')).map(([a, p, b, sep]) => [...a, ...p, ...b].join(sep)),
      { numRuns: 3000, seed },
    );
    const { problems, accepted } = check(specs);
    console.log(`disk-spec differential: ${specs.length} generated specs (seed ${seed}): ${accepted} accepted; ${problems.length} disagreements`);
    expect(problems.slice(0, 5)).toEqual([]);
    expect(accepted).toBeGreaterThan(specs.length / 20);
  });
});
