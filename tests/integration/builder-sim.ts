// The PV builder against SimulatedHypervisor (the model of a Xen host that implements the builder's ports):
// a fresh paused domain ready for buildPvDomain, and the ports wrapped to record calls, count live
// foreign mappings, and fail or answer differently where a test asks.
import type { GuestMapping, PvBuildPorts } from '../../domain-builder/index.js';
import { SimulatedHypervisor, type SimulatorOptions } from '../../hypervisor/index.js';

/** A recorded port call. */
export interface PortCall {
  readonly op: string;
  readonly args: readonly unknown[];
}

/** How the recorded ports differ from the simulator's. */
export interface RecordingOptions {
  /** Throw from this port method (by name) to test error paths. */
  readonly failAt?: keyof PvBuildPorts;
  /** Answer XENVER_capabilities with this instead. */
  readonly capabilities?: string;
}

/** The simulator's builder ports, recorded. */
export interface RecordedPorts {
  readonly ports: PvBuildPorts;
  readonly calls: PortCall[];
  /** Foreign mappings made and not yet unmapped (the builder must leave none). */
  liveMappings(): number;
}

const PORT_METHODS: readonly (keyof PvBuildPorts)[] = [
  'xenCapabilities', 'setAddressSize', 'populatePhysmap', 'mapFrames', 'sharedInfoFrame', 'hypercallInit',
  'pinTopLevelTable', 'setVcpuContext', 'seedGrantTable',
];

/** Wraps `hv`'s builder ports: every call is logged with its arguments (frame lists by length). */
export function recordPorts(hv: SimulatedHypervisor, options: RecordingOptions = {}): RecordedPorts {
  const calls: PortCall[] = [];
  let live = 0;
  const ports = Object.fromEntries(PORT_METHODS.map((op) => [op, async (...args: unknown[]) => {
    calls.push({ op, args: args.map((a) => (Array.isArray(a) ? a.length : a)) });
    if (options.failAt === op) throw new Error(`injected failure in ${op}`);
    if (op === 'xenCapabilities' && options.capabilities !== undefined) return options.capabilities;
    const result = await (hv[op] as (...a: unknown[]) => Promise<unknown>).apply(hv, args);
    if (op !== 'mapFrames') return result;
    const mapping = result as GuestMapping;
    live++;
    let unmapped = false;
    return {
      bytes: mapping.bytes,
      unmap: async () => {
        if (!unmapped) live--;
        unmapped = true;
        await mapping.unmap();
      },
    } satisfies GuestMapping;
  }])) as unknown as PvBuildPorts;
  return { ports, calls, liveMappings: () => live };
}

/** A simulated host with one new domain (1 vcpu, max_mem for `memoryMiB`), as executeCreate leaves it for the build. */
export async function simulatedDomain(memoryMiB: number, options: SimulatorOptions = {}): Promise<{ hv: SimulatedHypervisor; domid: number }> {
  const hv = new SimulatedHypervisor({ totalMemoryMiB: Math.max(4096, memoryMiB + 1024), ...options });
  const domid = await hv.createDomain({ maxVcpus: 1 });
  await hv.setMaxVcpus(domid, 1);
  await hv.setMaxMem(domid, BigInt(memoryMiB * 1024 + 1024));
  return { hv, domid };
}

/** Reads guest pages by machine frame for page-table walks (`walk`). */
export function frameReader(hv: SimulatedHypervisor): (mfn: number) => DataView {
  return (mfn) => {
    const page = hv.readFrame(mfn);
    return new DataView(page.buffer, page.byteOffset, 4096);
  };
}
