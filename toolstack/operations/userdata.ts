// libxl's per-domain userdata files (libxl_dom.c libxl__userdata_path/_store/_destroyall):
// <dir>/userdata-d.<domid>.<uuid>.<key>, dir = /var/lib/xen (XEN_LIB_DIR). The "libxl-json" key holds
// the domain's libxl_domain_config, which `xl list -l` reads; txl writes it for its own guests and reads
// it for anyone's, and, like libxl_retrieve_domain_configuration, brings it up to date before printing.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { vdevToDevid } from '../config/index.js';
import { formatYajl, orderDomainConfig, type LibxlJson } from '../config/libxl-json.js';
import type { DomainInfo, Hypervisor } from '../../hypervisor/index.js';

/** Where libxl keeps userdata on Debian (XEN_LIB_DIR). */
export const XEN_LIB_DIR = '/var/lib/xen';

/** libxl__userdata_path. */
export function userdataPath(dir: string, domid: number, uuid: string, key = 'libxl-json'): string {
  return join(dir, `userdata-d.${domid}.${uuid}.${key}`);
}

/**
 * Stores a domain's libxl_domain_config as libxl does (yajl text plus its terminating NUL, mode 0600),
 * through a temporary file and a rename so a reader never sees half of it.
 */
export async function saveDomainConfigFile(dir: string, domid: number, uuid: string, config: LibxlJson): Promise<string> {
  const path = userdataPath(dir, domid, uuid);
  const tmp = `${path}.${process.pid}.tmp`;
  await mkdir(dir, { recursive: true });
  await writeFile(tmp, `${formatYajl(config)}\0`, { mode: 0o600 });
  await rename(tmp, path);
  return path;
}

/** libxl__userdata_destroyall: removes every userdata file of `domid` (idempotent). */
export async function removeDomainUserdata(dir: string, domid: number): Promise<void> {
  const prefix = `userdata-d.${domid}.`;
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith(prefix)).map((n) => rm(join(dir, n), { force: true })));
}

/** The saved libxl_domain_config of a domain, or undefined when it has none (or it is not JSON). */
export async function readDomainConfigFile(dir: string, d: Pick<DomainInfo, 'domid' | 'uuid'>): Promise<{ [key: string]: LibxlJson } | undefined> {
  try {
    const text = (await readFile(userdataPath(dir, d.domid, d.uuid), 'utf8')).replace(/\0+$/, '');
    const value = JSON.parse(text) as LibxlJson;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { [key: string]: LibxlJson }) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Rewrites a domain's saved config with `change` (libxl does so when a device is hot-plugged or
 * removed, so that `list -l` and a later restart see it). A domain without a saved config is left so.
 */
export async function updateDomainConfigFile(
  dir: string, d: Pick<DomainInfo, 'domid' | 'uuid'>, change: (config: { [key: string]: LibxlJson }) => { [key: string]: LibxlJson },
): Promise<boolean> {
  const saved = await readDomainConfigFile(dir, d);
  if (!saved) return false;
  await saveDomainConfigFile(dir, d.domid, d.uuid, orderDomainConfig(change(saved)));
  return true;
}

/** The xenstore reads retrieval needs. */
export interface RetrieveStore {
  tryRead(path: string): Promise<string | undefined>;
}

type JsonMap = { [key: string]: LibxlJson };
const isMap = (v: LibxlJson | undefined): v is JsonMap => typeof v === 'object' && v !== null && !Array.isArray(v);
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * libxl_retrieve_domain_configuration for a PV domain: the saved config with what may have changed
 * since: the name (rename), the UUID, the vCPUs online (cpu/N/availability), memory target and
 * static-max (mem-set, mem-max), the scheduler's parameters, and only the disks and vifs still in
 * xenstore (a detached device is dropped). Undefined when the domain has no saved config (xl skips it).
 */
export async function retrieveDomainConfig(
  hv: Pick<Hypervisor, 'schedParams'>, store: RetrieveStore, info: DomainInfo, dir: string,
): Promise<JsonMap | undefined> {
  const saved = await readDomainConfigFile(dir, info);
  if (!saved) return undefined;
  const dom = `/local/domain/${info.domid}`;
  const c: JsonMap = isMap(saved.c_info) ? { ...saved.c_info } : {};
  const b: JsonMap = isMap(saved.b_info) ? { ...saved.b_info } : {};
  const name = await store.tryRead(`${dom}/name`);
  if (name !== undefined) c.name = name;
  if (info.uuid !== NIL_UUID) c.uuid = info.uuid;
  else delete c.uuid;
  // libxl__update_avail_vcpus_xenstore: bit i set when cpu/i/availability is "online".
  const maxVcpus = typeof b.max_vcpus === 'number' ? b.max_vcpus : 0;
  if (maxVcpus > 0) {
    const online = await Promise.all(Array.from({ length: maxVcpus }, (_, i) => store.tryRead(`${dom}/cpu/${i}/availability`)));
    b.avail_vcpus = online.flatMap((a, i) => (a === 'online' ? [i] : []));
  }
  // libxl__get_memory_target (dom0 without the nodes: what Xen says, as libxl__fill_dom0_memory_info).
  const [target, staticMax] = await Promise.all([store.tryRead(`${dom}/memory/target`), store.tryRead(`${dom}/memory/static-max`)]);
  // Plus libxl__get_targetmem_fudge: video_memkb (for PV), whose default when the saved config has none
  // (dom0's) is LIBXL_MEMKB_DEFAULT, ~0: so xl prints dom0's target one KiB low, and so does txl.
  const videoKb = typeof b.video_memkb === 'number' ? b.video_memkb : -1;
  b.target_memkb = (target !== undefined ? Number(target) : Number(info.totPages * 4n)) + videoKb;
  b.max_memkb = staticMax !== undefined ? Number(staticMax) : Number(info.maxPages * 4n);
  const sched = await hv.schedParams(info.domid);
  b.sched_params = { sched: sched.scheduler, ...(sched.weight !== undefined ? { weight: sched.weight } : {}), ...(sched.cap !== undefined ? { cap: sched.cap } : {}) };
  const out: JsonMap = { ...saved, c_info: c, b_info: b };
  // The MERGE step: a device in the JSON but not in xenstore (/libxl/N/device/<kind>/<devid>) is dropped.
  const present = async (kind: 'vbd' | 'vif', devid: number): Promise<boolean> =>
    (await store.tryRead(`/libxl/${info.domid}/device/${kind}/${devid}/backend`)) !== undefined;
  if (Array.isArray(saved.disks)) {
    const keep = await Promise.all((saved.disks as LibxlJson[]).map(async (d) => {
      if (!isMap(d) || typeof d.vdev !== 'string') return false;
      const devid = vdevToDevid(d.vdev);
      return devid !== undefined && present('vbd', devid);
    }));
    out.disks = (saved.disks as LibxlJson[]).filter((_, i) => keep[i]);
    if ((out.disks as LibxlJson[]).length === 0) delete out.disks;
  }
  if (Array.isArray(saved.nics)) {
    const keep = await Promise.all((saved.nics as LibxlJson[]).map(async (n) => isMap(n) && typeof n.devid === 'number' && present('vif', n.devid)));
    out.nics = (saved.nics as LibxlJson[]).filter((_, i) => keep[i]);
    if ((out.nics as LibxlJson[]).length === 0) delete out.nics;
  }
  return orderDomainConfig(out);
}
