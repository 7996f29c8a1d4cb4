// The lab tier's shared machines: `labFor(version)` gives every test file of a run the same booted
// lab per Xen version. This file is also the lab project's vitest globalSetup: the main process owns
// the QEMUs (through a broker socket, lab/broker.ts) and shuts them down when the run ends.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { TestProject } from 'vitest/node';
import { bootLab, LabBrokerClient, liveQemuCount, startLabBroker, type LabMachine, type XenVersion } from '../../lab/index.js';
import { refreshBundleQuietly } from '../../toolstack/cli/bundle.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Unix socket of the lab broker started by this file's global setup. */
    txlLabBroker: string;
  }
}

/** vitest globalSetup: starts the broker (labs boot lazily, on the first labFor of each version). */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'txl-lab-broker-'));
  const broker = await startLabBroker(join(dir, 'broker.sock'), async (xen) => {
    const started = Date.now();
    process.stderr.write(`lab: booting Xen ${xen} for the lab tier\n`);
    // dom0 runs bin/txl, which uses dist/bundle while it is fresh (a plain tsc leaves it stale).
    const warning = await refreshBundleQuietly();
    if (warning) process.stderr.write(`lab: ${warning}\n`);
    const lab = await bootLab({ xen, onLog: (line) => process.stderr.write(`${line}\n`) });
    process.stderr.write(`lab: Xen ${xen} ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    return lab;
  });
  project.provide('txlLabBroker', broker.socketPath);
  return async () => {
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
    // shutdown() waits for QEMU's exit; anything still counted here would be a leak.
    if (liveQemuCount() !== 0) throw new Error(`lab tier: ${liveQemuCount()} QEMU process(es) still running after the run's labs were shut down`);
  };
}

let client: Promise<LabBrokerClient> | undefined;
const labs = new Map<XenVersion, Promise<LabMachine>>();

/**
 * The run's lab for `xen`, booted on first use and shared by all test files. Tests must not shut it
 * down and must destroy the guests they create. Outside the lab project (no broker), the lab boots in
 * this process and QEMU is killed when the process exits.
 */
export function labFor(xen: XenVersion): Promise<LabMachine> {
  let lab = labs.get(xen);
  if (!lab) {
    let socketPath: string | undefined;
    try {
      socketPath = inject('txlLabBroker');
    } catch {
      socketPath = undefined;
    }
    if (socketPath) {
      client ??= LabBrokerClient.connect(socketPath);
      lab = client.then((c) => c.open(xen));
    } else {
      lab = bootLab({ xen });
    }
    labs.set(xen, lab);
    lab.catch(() => labs.delete(xen));
  }
  return lab;
}
