// txl's version, read from the package.json this file ships in: dependency-free so `txl --version` needs no yargs.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The version, built into dist/bundle by toolstack/cli/bundle.ts (undefined when running from dist/). */
declare const __TXL_VERSION__: string | undefined;

/** The version in the package.json this file ships in (found by walking up from this file). */
export function txlVersion(): string {
  if (typeof __TXL_VERSION__ === 'string') return __TXL_VERSION__;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'txl' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here; keep walking up
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}
