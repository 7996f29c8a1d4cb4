// libxl_domain_config JSON as xl 4.17 writes it, checked against files captured from xl in the lab
// (testdata/: the guest of .cache/lead/listl.sh: minikernel, memory 32, maxmem 48, vcpus 1 of 2, a raw
// disk and a vif with a fixed MAC, on_crash preserve).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseXlCfg, resolveDomainConfig } from './index.js';
import { formatYajl, libxlDomainConfig, orderDomainConfig, type LibxlJson } from './libxl-json.js';

const data = (name: string): string => readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8');

const CFG = `name = "listl"
kernel = "/work/main/.cache/fixtures/minikernel-f6acaffeb89d364c"
extra = "txl.action=stay"
memory = 32
maxmem = 48
vcpus = 1
maxvcpus = 2
disk = [ 'format=raw,vdev=xvda,access=rw,target=/tmp/d.img' ]
vif = [ 'mac=00:16:3e:11:22:33,bridge=xenbr0' ]
on_crash = "preserve"
`;

const resolved = (text: string, uuid = '6f7d93a5-4ae9-465b-ad94-1c4611884d5f') =>
  resolveDomainConfig(parseXlCfg(text, 'listl.cfg'), [], { generateUuid: () => uuid }).config;

describe('libxl_domain_config JSON (xl 4.17)', () => {
  it('is byte for byte what libxl saved for the same cfg (userdata-d.N.UUID.libxl-json)', () => {
    expect(formatYajl(libxlDomainConfig(resolved(CFG)))).toBe(data('xl-4.17-listl.libxl-json'));
  });

  it('lays out `xl list -l` output the way yajl does (array of {domid, config}, empty maps over three lines)', () => {
    const saved = JSON.parse(data('xl-4.17-listl.libxl-json')) as { [k: string]: LibxlJson };
    // What `xl list -l` adds live: the scheduler's parameters.
    const b = saved.b_info as { [k: string]: LibxlJson };
    b.sched_params = { sched: 'credit2', weight: 256, cap: 0 };
    expect(`${formatYajl([{ domid: 1, config: orderDomainConfig(saved) }])}\n`).toBe(data('xl-4.17-list-l-listl.txt'));
  });

  it('orders keys as the IDL does wherever they were set', () => {
    const out = orderDomainConfig({ on_crash: 'preserve', b_info: { target_memkb: 1, sched_params: { cap: 0, sched: 'credit' }, max_memkb: 2 }, c_info: { name: 'x', type: 'pv' } });
    expect(JSON.stringify(out)).toBe('{"c_info":{"type":"pv","name":"x"},"b_info":{"max_memkb":2,"target_memkb":1,"sched_params":{"sched":"credit","cap":0}},"on_crash":"preserve"}');
  });

  it('writes only what differs from libxl defaults: ramdisk, cdrom, read-only, actions, rate, chosen MACs', () => {
    const cfg = resolved(`name = "g"\nkernel = "/k"\nramdisk = "/i"\nroot = "/dev/xvda1 ro"\nmemory = 64\non_poweroff = "preserve"\non_reboot = "destroy"\n` +
      `disk = [ '/srv/g.img,raw,xvda,rw', '/srv/cd.iso,raw,hdc,ro,devtype=cdrom' ]\nvif = [ 'bridge=br1,rate=10Mb/s,vifname=g0' ]\n`);
    const json = libxlDomainConfig(cfg, ['00:16:3e:aa:bb:cc']) as { [k: string]: { [k: string]: LibxlJson } | LibxlJson[] | string };
    expect(json.on_poweroff).toBe('preserve');
    expect(json.on_reboot).toBeUndefined();
    const b = json.b_info as { [k: string]: LibxlJson };
    expect([b.max_vcpus, b.avail_vcpus, b.max_memkb, b.target_memkb, b.ramdisk, b.cmdline]).toEqual([1, [0], 65536, 65536, '/i', 'root=/dev/xvda1 ro']);
    const [rw, cd] = json.disks as { [k: string]: LibxlJson }[];
    expect(rw).toEqual({ pdev_path: '/srv/g.img', vdev: 'xvda', format: 'raw', readwrite: 1, colo_restore_enable: 'False' });
    expect(cd!.readwrite).toBeUndefined();
    expect([cd!.is_cdrom, cd!.removable]).toEqual([1, 1]);
    const [nic] = json.nics as { [k: string]: LibxlJson }[];
    expect(Object.keys(nic!)).toEqual(['devid', 'mac', 'bridge', 'ifname', 'nictype', 'rate_bytes_per_interval', 'rate_interval_usecs']);
    expect(nic!.mac).toBe('00:16:3e:aa:bb:cc');
  });
});
