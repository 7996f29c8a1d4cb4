// Inside a lab dom0: create a PV domain with txl's own builder (planCreate + executeCreate over privcmd and
// xenstored), optionally wait for a marker on its console log, then destroy it. Prints one JSON line.
// Run by bench/build.ts and tests/xen/builder*.test.ts as:
//   node dist/bench/build-dom0.js --kernel K [--ramdisk R] [--memory MiB] [--vcpus N] [--name N]
//        [--cmdline S] [--wait MARKER] [--wait-shutdown] [--timeout ms] [--keep] [--paused]
// --paused leaves the domain paused (xl create -p); with --keep it is left for the caller to destroy.
import { readFileSync } from 'node:fs';
import { openPrivcmdHypervisor } from '../hypervisor/index.js';
import { executeCreate, planCreate } from '../toolstack/operations/index.js';
import { XenstoreClient } from '../xenstore/index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const kernel = arg('kernel');
if (!kernel) throw new Error('--kernel is required');
const name = arg('name') ?? `txl-build-${process.pid}`;
const memoryMiB = Number(arg('memory') ?? 256);
const vcpus = Number(arg('vcpus') ?? 1);
const wait = arg('wait');
const timeoutMs = Number(arg('timeout') ?? 300_000);
const keep = process.argv.includes('--keep');
const paused = process.argv.includes('--paused');
const uuid = `00000000-0000-4000-8000-${String(process.pid).padStart(12, '0')}`;
const consoleLog = `/var/log/xen/console/guest-${name}.log`;

// Where the process's time goes outside the create (ms since node's time origin, i.e. process start):
// node's own start-up and this script's imports, then opening privcmd (koffi) and xenstored.
const importedMs = performance.now();
const hv = await openPrivcmdHypervisor();
const xs = await XenstoreClient.connect();
const out: Record<string, unknown> = { name, memoryMiB, vcpus, startup: { importedMs: Math.round(importedMs), openedMs: Math.round(performance.now()) } };
try {
  const plan = planCreate({ name, uuid, kernel, ramdisk: arg('ramdisk'), cmdline: arg('cmdline') ?? 'console=hvc0', memoryMiB, vcpus }, { paused });
  const t0 = process.hrtime.bigint();
  const result = await executeCreate(plan, { hypervisor: hv, xenstore: xs });
  out['createNs'] = String(process.hrtime.bigint() - t0);
  out['domid'] = result.domid;
  out['ops'] = Object.fromEntries(result.ops.map((op, i) => [op, result.opMs[i]]));
  out['buildSteps'] = Object.fromEntries(result.buildSteps.map((st, i) => [st, result.buildStepMs[i]]));
  if (wait) {
    const deadline = Date.now() + timeoutMs;
    let log = '';
    for (;;) {
      try { log = readFileSync(consoleLog, 'utf8'); } catch { /* not created yet */ }
      if (log.includes(wait)) { out['marker'] = true; break; }
      const info = await hv.findDomain(result.domid);
      if (!info || info.shutdown || info.dying) {
        // The guest may print its last line and shut down before xenconsoled has written it out.
        for (let i = 0; i < 20 && !log.includes(wait); i++) {
          await new Promise((r) => setTimeout(r, 500));
          try { log = readFileSync(consoleLog, 'utf8'); } catch { /* not created yet */ }
        }
        out['marker'] = log.includes(wait);
        if (!out['marker']) out['shutdown'] = info?.shutdownCode ?? 'gone';
        break;
      }
      if (Date.now() > deadline) { out['marker'] = false; out['timedOut'] = true; break; }
      await new Promise((r) => setTimeout(r, 500));
    }
    if (out['marker'] === true && process.argv.includes('--wait-shutdown')) {
      // The guest was told to power off: wait for Xen to report the shutdown.
      for (;;) {
        const info = await hv.findDomain(result.domid);
        if (!info || info.shutdown) { out['shutdownCode'] = info?.shutdownCode ?? 'gone'; break; }
        if (Date.now() > deadline) { out['shutdownTimedOut'] = true; break; }
        await new Promise((r) => setTimeout(r, 500));
      }
      try { log = readFileSync(consoleLog, 'utf8'); } catch { /* keep the last read */ }
    }
    out['waitNs'] = String(process.hrtime.bigint() - t0);
    out['console'] = log.slice(-6000);
    const info = await hv.findDomain(result.domid);
    out['state'] = info ? { shutdown: info.shutdown, shutdownCode: info.shutdownCode, onlineVcpus: info.onlineVcpus, totPages: String(info.totPages) } : 'gone';
  }
  if (!keep) {
    if (await hv.findDomain(result.domid)) await hv.destroyDomain(result.domid);
    for (const p of [`/local/domain/${result.domid}`, `/vm/${uuid}`, `/libxl/${result.domid}`, `/local/domain/0/backend/console/${result.domid}`]) {
      await xs.rm(p).catch(() => undefined);
    }
  }
  out['ok'] = true;
} catch (error) {
  const e = error as { code?: string; message?: string; details?: unknown; cause?: { message?: string; details?: unknown } };
  out['ok'] = false;
  out['error'] = { code: e.code, message: e.message, details: e.details, cause: e.cause?.message, causeDetails: e.cause?.details };
} finally {
  await xs.close();
  await hv.close();
}
process.stdout.write(`${JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
