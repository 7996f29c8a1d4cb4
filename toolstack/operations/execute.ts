// The one executor of create plans: runs MicroOp[] against a Hypervisor and a XenstoreClient, rolling back on failure.
//
// xenstore contents and order follow libxl (libxl_create.c libxl__domain_make, libxl_dom.c
// libxl__build_post, libxl_console.c), see xen-reference.md 3.1/3.2. On any failure after the
// domain exists, the half-built domain is destroyed and every xenstore node this run created is
// removed, so `txl list` and xenstore show nothing left.
import { buildPvDomain, openImageSource, parseKernel, planPvLayout, readImageFile, type ImageSource, type KernelImage, type PvBuildResult } from '../../domain-builder/index.js';
import { isTxlError, messageOf } from '../../common/errors.js';
import type { Hypervisor } from '../../hypervisor/index.js';
import {
  hotplugDisk, hotplugVif, preflightDevices, teardownDevice, vbdNodes, vifNodes, writeDeviceNodes, XENBUS_CLOSING,
  type DeviceRef, type HotplugHost,
} from '../devices/index.js';
import type { XenstoreClient, XsPermission, XsTransaction } from '../../xenstore/index.js';
import { OperationError } from './errors.js';
import type { MicroOp } from './micro-ops.js';
import { removeDomainUserdata, saveDomainConfigFile } from './userdata.js';

/** What the executor runs against. */
export interface ExecuteDeps {
  readonly hypervisor: Hypervisor;
  readonly xenstore: XenstoreClient;
  /** Wall clock in ms (for /vm/<uuid>/start_time); default Date.now. */
  readonly now?: () => number;
  /** Progress callback (the CLI prints it with -v); never required. Throwing from it fails that step (tests inject failures so). */
  readonly onStep?: (op: MicroOp, phase: 'start' | 'done') => void;
  /** Where device hotplug runs (loop devices, bridge ports); required when the plan has devices. */
  readonly hotplug?: HotplugHost;
  /** libxl's userdata directory (/var/lib/xen); required when the plan saves the domain's config. */
  readonly userdataDir?: string | undefined;
}

/** What a successful create returns. */
export interface CreateResult {
  readonly domid: number;
  readonly name: string;
  readonly storeMfn: number;
  readonly consoleMfn: number;
  readonly storeEvtchn: number;
  readonly consoleEvtchn: number;
  readonly paused: boolean;
  /** The builder's phases, in order, and their durations in ms. */
  readonly buildSteps: readonly string[];
  readonly buildStepMs: readonly number[];
  /** Duration of each op in ms (same order as ops). */
  readonly opMs: readonly number[];
  /** The ops that ran, in order. */
  readonly ops: readonly MicroOp['kind'][];
}

/** Mutable state carried from op to op. */
interface Context {
  kernel?: KernelImage;
  kernelPath?: string;
  /** Checked (exists, readable, its size) here; read straight into the guest's pages by the build. */
  initrd?: ImageSource | undefined;
  domid?: number;
  uuid?: string;
  storeEvtchn?: number;
  consoleEvtchn?: number;
  storeDomid: number;
  consoleDomid: number;
  build?: PvBuildResult;
  unpaused: boolean;
  /** xenstore subtrees this run created (removed on rollback). */
  created: string[];
  /** Devices whose nodes this run wrote (torn down on rollback, in reverse). */
  devices: DeviceRef[];
  /** The userdata directory the domain's config was saved in (removed on rollback). */
  userdata?: string;
  /** Background hotplug of each device: resolves to undefined, or to the error it failed with. */
  pending: { readonly label: string; readonly backend: string; readonly job: Promise<unknown> }[];
  /** Cancels the background waits on rollback. */
  readonly abort: AbortController;
  /** The whole plan (checkDevices checks its addDisk/addVif ops). */
  readonly plan: readonly MicroOp[];
  done: MicroOp['kind'][];
  opMs: number[];
}

const ro = (domid: number): XsPermission[] => [{ domid: 0, access: 'n' }, { domid, access: 'r' }];
const rw = (domid: number): XsPermission[] => [{ domid, access: 'n' }];
const NOPERM: XsPermission[] = [{ domid: 0, access: 'n' }];

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new OperationError('TXL_CREATE_CONFIG', `create plan out of order: ${what} is not known yet`);
  return value;
}

async function rmQuiet(xs: XenstoreClient | XsTransaction, path: string): Promise<void> {
  try {
    await xs.rm(path);
  } catch (error) {
    if ((error as { errno?: string }).errno !== 'ENOENT') throw error;
  }
}

/** mknod as libxl does it: WRITE "" then SET_PERMS (both sent at once: xenstored runs one connection's requests in order). */
function mknod(tx: XenstoreClient | XsTransaction, path: string, perms: XsPermission[]): Promise<unknown> {
  return Promise.all([tx.write(path, ''), tx.setPermissions(path, perms)]);
}

/**
 * Sends a batch of requests without waiting for each reply: the client writes each request when it is
 * called and xenstored answers one connection's requests in order, so the order of `requests` holds
 * while the round trips overlap (one round trip per batch instead of one per node).
 */
async function pipelined(requests: readonly (() => Promise<unknown>)[]): Promise<void> {
  await Promise.all(requests.map((send) => send()));
}

async function nameTaken(xs: XenstoreClient, name: string): Promise<number | undefined> {
  let ids: string[];
  try {
    ids = await xs.directory('/local/domain');
  } catch {
    return undefined;
  }
  for (const id of ids) {
    if ((await xs.tryRead(`/local/domain/${id}/name`)) === name) return Number(id);
  }
  return undefined;
}

function needHost(deps: ExecuteDeps): HotplugHost {
  if (!deps.hotplug) throw new OperationError('TXL_CREATE_CONFIG', 'this create plan has devices but the executor was given no hotplug host');
  return deps.hotplug;
}

/** Starts a device's hotplug in the background; its outcome is collected by waitDevices (or rollback). */
function startHotplug(ctx: Context, label: string, backend: string, work: Promise<unknown>): void {
  ctx.pending.push({ label, backend, job: work.then(() => undefined, (error: unknown) => error ?? new Error(`${label}: hotplug failed`)) });
}

async function runOp(op: MicroOp, ctx: Context, deps: ExecuteDeps): Promise<void> {
  const { hypervisor: hv, xenstore: xs } = deps;
  switch (op.kind) {
    case 'checkDevices': {
      const disks = ctx.plan.flatMap((o) => (o.kind === 'addDisk' ? [{ disk: o.disk, field: o.field }] : []));
      const vifs = ctx.plan.flatMap((o) => (o.kind === 'addVif' ? [{ vif: o.vif, mac: o.mac, field: o.field }] : []));
      await preflightDevices(xs, needHost(deps), disks, vifs);
      return;
    }
    case 'addDisk': {
      const domid = need(ctx.domid, 'the domid');
      const host = needHost(deps);
      const dev = vbdNodes(domid, op.disk, { backendDomid: op.backendDomid });
      await writeDeviceNodes(xs, dev);
      ctx.devices.push(dev);
      startHotplug(ctx, `${op.field} (vdev=${op.disk.vdev})`, dev.backend, hotplugDisk(xs, host, dev, op.disk, { timeoutMs: op.timeoutMs, signal: ctx.abort.signal }));
      return;
    }
    case 'addVif': {
      const domid = need(ctx.domid, 'the domid');
      const host = needHost(deps);
      const dev = vifNodes(domid, op.vif, op.mac, { backendDomid: op.backendDomid });
      await writeDeviceNodes(xs, dev);
      ctx.devices.push(dev);
      startHotplug(ctx, `${op.field} (bridge=${op.vif.bridge})`, dev.backend, hotplugVif(xs, host, dev, op.vif, { timeoutMs: op.timeoutMs, signal: ctx.abort.signal }));
      return;
    }
    case 'waitDevices': {
      // All devices were started at once; collect them all, then report the first failure.
      const outcomes = await Promise.all(ctx.pending.map(async (p) => ({ ...p, error: await p.job })));
      const failed = outcomes.find((o) => o.error !== undefined);
      if (failed) {
        const why = messageOf(failed.error);
        throw new OperationError('TXL_CREATE_DEVICE', `${failed.label}: ${why}`, {
          cause: failed.error, details: { device: failed.label, backend: failed.backend },
          ...(isTxlError(failed.error) && failed.error.hint ? { hint: failed.error.hint } : {}),
        });
      }
      for (const o of outcomes) {
        const [status, state] = await Promise.all([xs.tryRead(`${o.backend}/hotplug-status`), xs.tryRead(`${o.backend}/state`)]);
        if (status !== 'connected' || state === undefined || Number(state) >= XENBUS_CLOSING) {
          throw new OperationError('TXL_CREATE_DEVICE', `${o.label}: the backend is not ready (hotplug-status ${status ?? 'missing'}, state ${state ?? 'missing'})`, {
            details: { device: o.label, backend: o.backend },
          });
        }
      }
      return;
    }
    case 'loadKernel': {
      ctx.kernelPath = op.kernel;
      ctx.kernel = await parseKernel(await readImageFile(op.kernel, 'kernel'), op.kernel);
      ctx.initrd = op.ramdisk ? await openImageSource(op.ramdisk, 'initrd') : undefined;
      // Fail on a kernel/initrd that cannot fit before a domain exists.
      planPvLayout(ctx.kernel, { totalPages: op.memoryMiB * 256, initrdLength: ctx.initrd?.length ?? 0 });
      return;
    }
    case 'createDomain': {
      ctx.uuid = op.uuid;
      ctx.domid = await hv.createDomain({ uuid: op.uuid, maxVcpus: op.maxVcpus });
      return;
    }
    case 'writeDomainSkeleton': {
      const domid = need(ctx.domid, 'the domid');
      const dom = `/local/domain/${domid}`;
      const vm = `/vm/${op.uuid}`;
      const libxl = `/libxl/${domid}`;
      ctx.created.push(dom, vm, libxl);
      // The three top nodes are made before the transaction: making them adds a child to /local/domain,
      // /vm and /libxl, which every domain shares, and xenstored fails the commit of every other
      // transaction that touched those meanwhile. Inside it, concurrent creates kept retrying each
      // other's skeletons (ten at once in the lab: 3-26 s each for this step, 0.2 s alone). A stale node
      // of an earlier domain with this domid is removed first, as libxl__domain_make does (one batch:
      // xenstored answers one connection's requests in order).
      await pipelined([
        ...[dom, vm, libxl].map((p) => () => rmQuiet(xs, p)),
        () => mknod(xs, dom, ro(domid)), () => mknod(xs, vm, ro(domid)), () => mknod(xs, libxl, NOPERM),
      ]);
      await xs.transaction(async (tx) => {
        await pipelined([
          () => mknod(tx, `${libxl}/device`, NOPERM),
          () => tx.write(`${dom}/vm`, vm),
          () => tx.write(`${dom}/name`, op.name),
          ...['cpu', 'memory', 'device', 'control'].map((d) => () => mknod(tx, `${dom}/${d}`, ro(domid))),
          ...[
            'device/suspend/event-channel', 'control/shutdown', 'control/feature-poweroff', 'control/feature-reboot',
            'control/feature-suspend', 'control/sysrq', 'data', 'drivers', 'feature', 'attr', 'error',
          ].map((d) => () => mknod(tx, `${dom}/${d}`, rw(domid))),
          () => tx.write(`${vm}/uuid`, op.uuid),
          () => tx.write(`${vm}/name`, op.name),
          () => tx.write(`${dom}/control/platform-feature-multiprocessor-suspend`, '1'),
          () => tx.write(`${dom}/control/platform-feature-xs_reset_watches`, '1'),
          () => tx.write(`${libxl}/type`, 'pv'),
          // libxl__domain_make writes the device model version even for PV (qdisk back-ends use it).
          () => tx.write(`${libxl}/dm-version`, 'qemu_xen'),
        ]);
      });
      return;
    }
    case 'saveDomainConfig': {
      const domid = need(ctx.domid, 'the domid');
      if (deps.userdataDir === undefined) throw new OperationError('TXL_CREATE_CONFIG', 'the plan saves the domain configuration but no userdata directory was given', { details: { op: op.kind } });
      ctx.userdata = deps.userdataDir;
      await saveDomainConfigFile(deps.userdataDir, domid, op.uuid, op.config);
      return;
    }
    case 'prepareBuild': {
      const domid = need(ctx.domid, 'the domid');
      await hv.setMaxVcpus(domid, op.maxVcpus);
      await hv.setMaxMem(domid, BigInt(op.maxMemKiB));
      ctx.storeDomid = op.storeDomid;
      ctx.consoleDomid = op.consoleDomid;
      ctx.storeEvtchn = await hv.evtchnAllocUnbound(domid, op.storeDomid);
      ctx.consoleEvtchn = await hv.evtchnAllocUnbound(domid, op.consoleDomid);
      return;
    }
    case 'buildDomain': {
      const domid = need(ctx.domid, 'the domid');
      ctx.build = await buildPvDomain(need(ctx.kernel, 'the kernel'), {
        domid, memoryMiB: op.memoryMiB, cmdline: op.cmdline, initrd: ctx.initrd,
        storeEvtchn: need(ctx.storeEvtchn, 'the store event channel'), consoleEvtchn: need(ctx.consoleEvtchn, 'the console event channel'),
        storeDomid: ctx.storeDomid, consoleDomid: ctx.consoleDomid,
      }, hv);
      return;
    }
    case 'writeXenstoreTree': {
      const domid = need(ctx.domid, 'the domid');
      const build = need(ctx.build, 'the build result');
      const dom = `/local/domain/${domid}`;
      const vm = `/vm/${op.uuid}`;
      const now = (deps.now ?? Date.now)();
      await xs.transaction(async (tx) => {
        const w = (path: string, value: string) => () => tx.write(path, value);
        await pipelined([
          w(`${dom}/memory/static-max`, String(op.maxMemKiB)),
          w(`${dom}/memory/target`, String(op.memoryKiB)),
          w(`${dom}/memory/videoram`, '0'),
          w(`${dom}/domid`, String(domid)),
          w(`${dom}/store/port`, String(need(ctx.storeEvtchn, 'the store event channel'))),
          w(`${dom}/store/ring-ref`, String(build.storeMfn)),
          ...Array.from({ length: op.maxVcpus }, (_, i) => w(`${dom}/cpu/${i}/availability`, i < op.vcpus ? 'online' : 'offline')),
          w(`${vm}/image/ostype`, 'linux'),
          w(`${vm}/image/kernel`, op.kernel),
          ...(op.ramdisk ? [w(`${vm}/image/ramdisk`, op.ramdisk)] : []),
          ...(op.cmdline ? [w(`${vm}/image/cmdline`, op.cmdline)] : []),
          w(`${vm}/start_time`, `${Math.floor(now / 1000)}.${String(Math.floor((now % 1000) / 10)).padStart(2, '0')}`),
        ]);
      });
      return;
    }
    case 'setupConsole': {
      const domid = need(ctx.domid, 'the domid');
      const build = need(ctx.build, 'the build result');
      const be = op.backendDomid;
      const front = `/local/domain/${domid}/console`;
      const back = `/local/domain/${be}/backend/console/${domid}/0`;
      ctx.created.push(`/local/domain/${be}/backend/console/${domid}`);
      // backend/console/<domid> is made before the transaction, as the skeleton's top nodes are: every
      // domain's console shares backend/console.
      await xs.mkdir(`/local/domain/${be}/backend/console/${domid}`);
      await xs.transaction(async (tx) => {
        const w = (path: string, value: string) => () => tx.write(path, value);
        await pipelined([
          () => rmQuiet(tx, back),
          () => mknod(tx, back, [{ domid: be, access: 'n' }, { domid, access: 'r' }]),
          w(`${back}/frontend`, front),
          w(`${back}/frontend-id`, String(domid)),
          w(`${back}/online`, '1'),
          w(`${back}/state`, '1'),
          w(`${back}/protocol`, 'vt100'),
          // libxl__device_console_add's copy under /libxl (libxl__device_generic_add).
          ...[['frontend', front], ['backend', back], ['frontend-id', String(domid)], ['online', '1'], ['state', '1'], ['protocol', 'vt100']]
            .map(([k, v]) => w(`/libxl/${domid}/device/console/0/${k}`, v!)),
          () => mknod(tx, front, ro(domid)),
          w(`${front}/backend`, back),
          w(`${front}/backend-id`, String(be)),
          // The frontend's own keys are the guest's, readable by the backend (as xl leaves them).
          () => tx.setPermissions(`${front}/backend-id`, [{ domid, access: 'n' }, { domid: be, access: 'r' }]),
          w(`${front}/limit`, String(op.limit)),
          w(`${front}/type`, 'xenconsoled'),
          w(`${front}/output`, 'pty'),
          w(`${front}/tty`, ''),
          w(`${front}/port`, String(need(ctx.consoleEvtchn, 'the console event channel'))),
          w(`${front}/ring-ref`, String(build.consoleMfn)),
        ]);
      });
      return;
    }
    case 'introduceDomain': {
      const domid = need(ctx.domid, 'the domid');
      const build = need(ctx.build, 'the build result');
      await xs.introduceDomain(domid, BigInt(build.storeMfn), need(ctx.storeEvtchn, 'the store event channel'));
      return;
    }
    case 'unpause': {
      await hv.unpause(need(ctx.domid, 'the domid'));
      ctx.unpaused = true;
      return;
    }
  }
}

/**
 * Undoes a partial create in libxl's destroy order (libxl__destroy_domid, as destroy.ts): the domain is
 * paused, its devices torn down and its nodes and saved config removed while it still exists, then it is
 * destroyed. Returns what could not be undone.
 *
 * No XS_RELEASE: libxl never sends it on destroy. Released before Xen kills the domain, xenstored fires
 * @releaseDomain while the domain is still alive and forgets it, so xenconsoled keeps the console ring
 * mapped and is never told when the domain dies: the domain stayed a zombie ("(null)", --p--d in xl list)
 * in the 4.17 lab. Destroyed without it, xenstored sees the domain dying (VIRQ_DOM_EXC), drops it and fires
 * @releaseDomain then, and xenconsoled lets go.
 */
async function rollback(ctx: Context, deps: ExecuteDeps): Promise<string[]> {
  const problems: string[] = [];
  const { hypervisor: hv, xenstore: xs } = deps;
  // Let background hotplug stop (a loop device it is making must be known before the teardown).
  ctx.abort.abort();
  await Promise.all(ctx.pending.map((p) => p.job));
  const domid = ctx.domid;
  if (domid !== undefined && ctx.unpaused) await hv.pause(domid).catch(() => undefined);
  for (const dev of [...ctx.devices].reverse()) {
    try { await teardownDevice(xs, needHost(deps), dev); } catch (e) { problems.push(`teardown of ${dev.kind} ${dev.devid}: ${messageOf(e)}`); }
  }
  for (const path of ctx.created.reverse()) {
    try { await rmQuiet(xs, path); } catch (e) { problems.push(`removal of ${path}: ${messageOf(e)}`); }
  }
  if (ctx.userdata !== undefined && domid !== undefined) {
    try { await removeDomainUserdata(ctx.userdata, domid); } catch (e) { problems.push(`removal of the saved config: ${messageOf(e)}`); }
  }
  if (domid !== undefined) {
    try {
      if (await hv.findDomain(domid)) await hv.destroyDomain(domid);
    } catch (e) {
      problems.push(`destroy of domain ${domid}: ${messageOf(e)}`);
    }
  }
  return problems;
}

/**
 * Runs a create plan. On failure before a domain exists, the original (typed) error is thrown
 * as is; after, the domain is rolled back and an OperationError wraps the cause.
 */
export async function executeCreate(plan: readonly MicroOp[], deps: ExecuteDeps): Promise<CreateResult> {
  const ctx: Context = {
    storeDomid: 0, consoleDomid: 0, unpaused: false, created: [], done: [], opMs: [],
    devices: [], pending: [], abort: new AbortController(), plan,
  };
  let name = '';
  for (const op of plan) {
    if (op.kind === 'writeDomainSkeleton') name = op.name;
    if (op.kind === 'createDomain') {
      const skeleton = plan.find((o) => o.kind === 'writeDomainSkeleton');
      if (skeleton && skeleton.kind === 'writeDomainSkeleton') {
        const holder = await nameTaken(deps.xenstore, skeleton.name);
        if (holder !== undefined) {
          throw new OperationError('TXL_CREATE_NAME_TAKEN', `a domain named '${skeleton.name}' already exists (domid ${holder})`, {
            details: { name: skeleton.name, domid: holder }, hint: 'pick another name= or destroy the existing domain first',
          });
        }
      }
    }
    const started = performance.now();
    try {
      deps.onStep?.(op, 'start');
      await runOp(op, ctx, deps);
      deps.onStep?.(op, 'done');
    } catch (error) {
      if (ctx.domid === undefined) throw error;
      const problems = await rollback(ctx, deps);
      const why = messageOf(error);
      const steps = ctx.build?.steps ?? (isTxlError(error) && Array.isArray(error.details['completed']) ? (error.details['completed'] as readonly string[]) : []);
      if (problems.length) {
        throw new OperationError('TXL_CREATE_ROLLBACK_FAILED', `creating domain ${ctx.domid} failed at ${op.kind}: ${why}; the rollback was incomplete: ${problems.join('; ')}`, {
          cause: error, details: { domid: ctx.domid, step: op.kind, leftovers: problems, buildSteps: steps },
          hint: `remove what is left with 'txl destroy ${ctx.domid}'`,
        });
      }
      throw new OperationError('TXL_CREATE_FAILED', `creating the domain failed at ${op.kind}: ${why} (the half-built domain ${ctx.domid} was destroyed and its xenstore nodes removed)`, {
        cause: error, details: { domid: ctx.domid, step: op.kind, buildSteps: steps },
        ...(isTxlError(error) && error.hint ? { hint: error.hint } : {}),
      });
    }
    ctx.done.push(op.kind);
    ctx.opMs.push(Math.round(performance.now() - started));
  }
  const build = need(ctx.build, 'the build result');
  return {
    domid: need(ctx.domid, 'the domid'), name, storeMfn: build.storeMfn, consoleMfn: build.consoleMfn,
    storeEvtchn: need(ctx.storeEvtchn, 'the store event channel'), consoleEvtchn: need(ctx.consoleEvtchn, 'the console event channel'),
    paused: !ctx.unpaused, buildSteps: build.steps, buildStepMs: build.stepMs, ops: ctx.done, opMs: ctx.opMs,
  };
}
