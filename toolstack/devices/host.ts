// The hotplug host the CLI uses: the real one (node:fs, losetup and ip through spawn), or one a test
// injects (a fake host modelling loop devices and bridges).
import type { HotplugHost } from './hotplug.js';

let factory: (() => HotplugHost) | undefined;

/** Makes the CLI's device commands use another host (tests); undefined restores the real one. */
export function setHotplugHostFactory(make: (() => HotplugHost) | undefined): void {
  factory = make;
}

/** The injected host, else the real one. */
export async function defaultHotplugHost(): Promise<HotplugHost> {
  if (factory) return factory();
  const { realHotplugHost } = await import('./hotplug.js');
  const { SpawnRunner } = await import('../../image-tools/runner.js');
  return realHotplugHost(new SpawnRunner());
}
