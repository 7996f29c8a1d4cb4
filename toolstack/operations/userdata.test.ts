// libxl's userdata files and libxl_retrieve_domain_configuration, against what xl 4.17 printed in the lab
// (toolstack/config/testdata: a guest after `xl mem-set 24m`, `xl vcpu-set 2` and `xl rename`).
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatYajl } from '../config/libxl-json.js';
import type { DomainInfo, DomainSchedParams } from '../../hypervisor/index.js';
import { readDomainConfigFile, removeDomainUserdata, retrieveDomainConfig, saveDomainConfigFile, userdataPath } from './userdata.js';

const data = (name: string): string => readFileSync(new URL(`../config/testdata/${name}`, import.meta.url), 'utf8');
const UUID = '6f7d93a5-4ae9-465b-ad94-1c4611884d5f';
const info = (domid: number, uuid = UUID, more: Partial<DomainInfo> = {}): DomainInfo => ({ domid, uuid, totPages: 0n, maxPages: 0n, ...more }) as DomainInfo;
const store = (nodes: Record<string, string>) => ({ tryRead: async (path: string) => nodes[path] });
const credit2 = { schedParams: async (): Promise<DomainSchedParams> => ({ scheduler: 'credit2', weight: 256, cap: 0 }) };

describe('userdata files (libxl__userdata_*)', () => {
  it('saves as libxl does (yajl text and its NUL, 0600), reads it back, removes every file of the domain only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'txl-userdata-'));
    const path = await saveDomainConfigFile(dir, 1, UUID, { c_info: { type: 'pv', name: 'x' } });
    expect(path).toBe(userdataPath(dir, 1, UUID));
    expect(readFileSync(path, 'utf8')).toBe('{\n    "c_info": {\n        "type": "pv",\n        "name": "x"\n    }\n}\n\0');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await readDomainConfigFile(dir, info(1))).toEqual({ c_info: { type: 'pv', name: 'x' } });
    writeFileSync(join(dir, `userdata-d.12.${UUID}.libxl-json`), '{}');
    writeFileSync(join(dir, `userdata-d.1.${UUID}.xl`), 'x');
    await removeDomainUserdata(dir, 1);
    expect(readdirSync(dir)).toEqual([`userdata-d.12.${UUID}.libxl-json`]);
    await removeDomainUserdata(dir, 1);
    expect(await readDomainConfigFile(dir, info(1))).toBeUndefined();
  });
});

describe('retrieveDomainConfig (libxl_retrieve_domain_configuration)', () => {
  it('brings xl\'s saved config up to date as `xl list -l` does: name, vcpus online, memory, scheduler', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'txl-userdata-'));
    writeFileSync(userdataPath(dir, 1, UUID), `${data('xl-4.17-listl.libxl-json')}\0`);
    const nodes = {
      '/local/domain/1/name': 'listl2',
      '/local/domain/1/cpu/0/availability': 'online',
      '/local/domain/1/cpu/1/availability': 'online',
      '/local/domain/1/memory/target': '24576',
      '/local/domain/1/memory/static-max': '49152',
      '/libxl/1/device/vbd/51712/backend': '/local/domain/0/backend/vbd/1/51712',
      '/libxl/1/device/vif/0/backend': '/local/domain/0/backend/vif/1/0',
    };
    const config = await retrieveDomainConfig(credit2, store(nodes), info(1), dir);
    expect(`${formatYajl([{ domid: 1, config: config! }])}\n`).toBe(data('xl-4.17-list-l-after.txt'));
  });

  it('drops devices no longer in xenstore; skips a domain without a saved config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'txl-userdata-'));
    writeFileSync(userdataPath(dir, 1, UUID), data('xl-4.17-listl.libxl-json'));
    const config = await retrieveDomainConfig(credit2, store({ '/libxl/1/device/vif/0/backend': 'b' }), info(1, UUID, { totPages: 8192n, maxPages: 12288n }), dir);
    expect(config!.disks).toBeUndefined();
    expect((config!.nics as unknown[]).length).toBe(1);
    const b = config!.b_info as Record<string, unknown>;
    expect([b.avail_vcpus, b.target_memkb, b.max_memkb]).toEqual([[], 32768, 49152]);
    expect(await retrieveDomainConfig(credit2, store({}), info(2), dir)).toBeUndefined();
  });

  it('dom0: xen-init-dom0\'s minimal config, its name and memory filled in (target 1 KiB low, as xl: LIBXL_MEMKB_DEFAULT video_memkb), no UUID (nil)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'txl-userdata-'));
    const nil = '00000000-0000-0000-0000-000000000000';
    writeFileSync(userdataPath(dir, 0, nil), '{\n    "c_info": {\n        "type": "pv"\n    },\n    "b_info": {\n        "sched_params": {\n\n        },\n        "type.pv": {\n\n        },\n        "arch_arm": {\n\n        },\n        "arch_x86": {\n\n        }\n    }\n}\n\0');
    const nodes = { '/local/domain/0/name': 'Domain-0', '/local/domain/0/memory/target': '1048576', '/local/domain/0/memory/static-max': '1048576' };
    const config = await retrieveDomainConfig(credit2, store(nodes), info(0, nil), dir);
    expect(`${formatYajl([{ domid: 0, config: config! }])}\n`).toBe(data('xl-4.17-list-l-dom0.txt'));
  });
});
