// Backend selection: privcmd on a Xen dom0, or the simulator (TXL_BACKEND=simulator, state in a file).
import { readFile, writeFile, mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HypervisorError } from './errors.js';
import type { Hypervisor } from './hypervisor.js';
import { SimulatedHypervisor, type SimulatorState } from './simulator.js';

/** Default simulator state file when TXL_SIM_STATE is not set. */
export function defaultSimulatorStatePath(env: NodeJS.ProcessEnv = process.env): string {
  return `${env.XDG_RUNTIME_DIR ?? '/tmp'}/txl-simulator-${process.getuid?.() ?? 0}.json`;
}

/**
 * The state file of TXL_BACKEND=simulator: `{ "hypervisor": SimulatorState, ... }`. Other top-level
 * keys (the CLI keeps simulated xenstore names under "xenstore") are preserved on save.
 */
async function readStateFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new HypervisorError('TXL_HV_SIM_STATE', `cannot read simulator state ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new HypervisorError('TXL_HV_SIM_STATE', `simulator state ${path} is not a JSON object`, {
    details: { path }, hint: `Delete ${path} to start from a fresh simulated host.`,
  });
}

/** Opens (or creates) a file-backed simulator; its state is written back on close(). */
export async function openSimulatorFile(path: string, options: { xen?: '4.17' | '4.20' } = {}): Promise<SimulatedHypervisor> {
  const file = await readStateFile(path);
  const state = file.hypervisor as SimulatorState | undefined;
  const sim = state ? SimulatedHypervisor.fromState(state) : new SimulatedHypervisor(options.xen ? { xen: options.xen } : {});
  sim.persistOnClose(async (next) => {
    const current = await readStateFile(path);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ ...current, hypervisor: next }, null, 1)}\n`);
    await rename(tmp, path);
  });
  return sim;
}

/**
 * The hypervisor txl should talk to. TXL_BACKEND selects it: unset or 'privcmd' = /dev/xen/privcmd
 * (errors say when this is not a dom0 or not root); 'simulator' = SimulatedHypervisor with its state
 * in TXL_SIM_STATE (default defaultSimulatorStatePath()), TXL_SIM_XEN ('4.17'|'4.20') for a new one.
 */
export async function openHypervisor(env: NodeJS.ProcessEnv = process.env): Promise<Hypervisor> {
  const backend = env.TXL_BACKEND ?? 'privcmd';
  if (backend === 'simulator') {
    const xen = env.TXL_SIM_XEN === '4.20' ? '4.20' : '4.17';
    return openSimulatorFile(env.TXL_SIM_STATE ?? defaultSimulatorStatePath(env), { xen });
  }
  if (backend === 'privcmd') {
    const { openPrivcmdHypervisor } = await import('./privcmd/backend.js');
    return openPrivcmdHypervisor();
  }
  throw new HypervisorError('TXL_HV_EINVAL', `TXL_BACKEND='${backend}' is not a txl backend`, {
    details: { TXL_BACKEND: backend }, hint: "Use TXL_BACKEND=privcmd (real Xen, the default) or TXL_BACKEND=simulator.",
  });
}
