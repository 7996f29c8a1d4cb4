// Builds dist/bundle/: the CLI (txl.js) and the host monitor daemon (daemon-main.js) as one file each
// (esbuild, from the tsc output in dist/), so a txl process loads one file instead of ~170 modules.
// Under the lab's emulation every file system round trip over 9p costs ~0.1 s and module resolution
// makes several per module: `txl create` spent most of its 85-170 s there (bench/create, DEVELOPERS.md).
// bin/txl runs the bundle only while it is newer than dist/toolstack/cli/entry.js (a plain `tsc`
// rebuild makes it stale and bin/txl falls back to dist/). `npm run build` runs tsc, then
// bundle-main.ts; `txl lab exec`, the lab tier and the lab benchmarks refresh a stale bundle first.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TxlError } from '../../common/errors.js';

/** Entry points of the bundle, relative to dist/ (their outputs keep the base name). */
export const BUNDLE_ENTRIES = { txl: 'toolstack/cli/entry.js', 'daemon-main': 'toolstack/lifecycle/daemon-main.js' } as const;

/** Where the bundle of the package at `root` lives. */
export function bundleDir(root: string): string {
  return join(root, 'dist', 'bundle');
}

/** The txl package root above `from` (this file's folder by default: dist/toolstack/cli or dist/bundle). */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'txl') return dir;
    } catch {
      // not here; keep walking up
    }
    if (dirname(dir) === dir) throw new TxlError('TXL_BUNDLE', `cannot find txl's package.json above ${from}`);
  }
}

/**
 * True when dist/bundle/txl.js exists and is newer than every input recorded when it was built
 * (its stamp): what bin/txl checks cheaply with entry.js alone, checked here on every input.
 */
export function bundleIsFresh(root: string, dir = bundleDir(root)): boolean {
  const stampPath = join(dir, 'inputs.json');
  if (!existsSync(stampPath) || !existsSync(join(dir, 'txl.js'))) return false;
  try {
    const stamp = JSON.parse(readFileSync(stampPath, 'utf8')) as { inputs: Record<string, number> };
    for (const [path, mtimeMs] of Object.entries(stamp.inputs)) {
      if (statSync(join(root, path)).mtimeMs !== mtimeMs) return false;
    }
    return statSync(join(dir, 'txl.js')).mtimeMs > statSync(join(root, 'dist', BUNDLE_ENTRIES.txl)).mtimeMs;
  } catch {
    return false;
  }
}

/**
 * Builds dist/bundle/ (or `outDir`, which must lie inside the package so the bundle finds
 * package.json, node_modules and its sibling daemon-main.js) from dist/, atomically: a temporary
 * folder renamed into place. Returns its path.
 */
export async function buildBundle(root: string, outDir = bundleDir(root)): Promise<string> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (cause) {
    throw new TxlError('TXL_BUNDLE', 'cannot load esbuild, which builds dist/bundle', {
      cause, hint: "install txl's development dependencies (npm ci) or run the CLI from dist/ (bin/txl does when there is no bundle)",
    });
  }
  if (!existsSync(join(root, 'dist', BUNDLE_ENTRIES.txl))) {
    throw new TxlError('TXL_BUNDLE', `no ${join(root, 'dist', BUNDLE_ENTRIES.txl)}: build dist/ first (npx tsc -p tsconfig.build.json)`);
  }
  const final = outDir;
  for (let attempt = 0; ; attempt++) {
    const tmp = `${final}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const started = Date.now();
    try {
      const result = await esbuild.build({
        absWorkingDir: root,
        entryPoints: Object.fromEntries(Object.entries(BUNDLE_ENTRIES).map(([name, path]) => [name, join('dist', path)])),
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        outdir: tmp,
        // Readable stack traces and class names in error reports: no minifying (it did not make the
        // lab faster either: parsing is not where the time goes).
        keepNames: true,
        metafile: true,
        logLevel: 'silent',
        // Packages with native code are never inlined. koffi is imported lazily by the code already;
        // lzma-native is imported at the top of domain-builder/kernel/decompress.ts, so the bundle gets
        // a stand-in that requires it on first use (or every command would load its .node file).
        // esbuild itself (this file's own dependency, loaded only to build) cannot be bundled.
        external: ['koffi', 'esbuild'],
        plugins: [lazyRequirePlugin(['lzma-native'])],
        // CommonJS dependencies (seek-bzip, lz4js...) call require(); give the ES module bundle one.
        banner: { js: "import { createRequire as __txlCreateRequire } from 'node:module'; const require = __txlCreateRequire(import.meta.url);" },
      });
      const inputs: Record<string, number> = {};
      for (const input of Object.keys(result.metafile.inputs)) {
        if (input.includes(':')) continue; // the stand-ins of lazyRequirePlugin
        inputs[input] = statSync(join(root, input)).mtimeMs;
      }
      // A tsc writing dist/ while we read it: some input is newer than our start. Build again.
      if (Object.values(inputs).some((m) => m >= started) && attempt < 5) {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      writeFileSync(join(tmp, 'inputs.json'), `${JSON.stringify({ inputs }, null, 1)}\n`);
      rmSync(final, { recursive: true, force: true });
      renameSync(tmp, final);
      return final;
    } catch (error) {
      rmSync(tmp, { recursive: true, force: true });
      if (error instanceof TxlError) throw error;
      throw new TxlError('TXL_BUNDLE', `esbuild could not bundle dist/: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
}

/** Builds the bundle unless it is fresh; returns whether it built. */
export async function ensureBundle(root: string): Promise<boolean> {
  if (bundleIsFresh(root)) return false;
  await buildBundle(root);
  return true;
}

/**
 * An esbuild plugin replacing `import x from 'PKG'` of the named CommonJS packages with an object
 * that requires PKG (resolved from the bundle's own location) on its first property access.
 */
function lazyRequirePlugin(packages: readonly string[]): import('esbuild').Plugin {
  const filter = new RegExp(`^(${packages.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`);
  return {
    name: 'txl-lazy-require',
    setup(build) {
      build.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'txl-lazy-require' }));
      build.onLoad({ filter: /.*/, namespace: 'txl-lazy-require' }, (args) => ({
        loader: 'js',
        contents: [
          "import { createRequire } from 'node:module';",
          'let loaded;',
          `const load = () => (loaded ??= createRequire(import.meta.url)(${JSON.stringify(args.path)}));`,
          'export default new Proxy({}, { get: (_, key) => load()[key], has: (_, key) => key in load() });',
        ].join('\n'),
      }));
    },
  };
}

/**
 * For whatever boots the lab (dom0 runs this checkout's bin/txl): refreshes a stale bundle so dom0
 * runs it rather than the slow unbundled dist/. Never throws: returns a warning line when it could
 * not (dom0 then runs dist/, correct but slower).
 */
export async function refreshBundleQuietly(root = packageRoot()): Promise<string | undefined> {
  try {
    await ensureBundle(root);
    return undefined;
  } catch (error) {
    return `could not refresh dist/bundle (dom0 runs the unbundled dist/, more slowly): ${error instanceof Error ? error.message : String(error)}`;
  }
}
