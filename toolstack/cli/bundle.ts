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
        // CommonJS, not ES modules: bin/txl compiles it with a V8 code cache (bin/txl), which Node 20
        // offers for scripts only, and Node's ES module loader alone cost ~1 s per start in the lab.
        // dist/bundle/package.json (written below) tells Node these .js files are CommonJS.
        format: 'cjs',
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
        plugins: [lazyRequirePlugin(['lzma-native']), lightDependenciesPlugin(root)],
        // `await import('koffi')` becomes require(): bin/txl runs the bundle as a script, which has no
        // dynamic import.
        supported: { 'dynamic-import': false },
        // import.meta.url (the code finds package.json, templates/ and daemon-main.js from it) is the
        // bundle file's URL, as it was in the ES module bundle; the version is known now, so a start
        // never walks up the (9p, in the lab) file system for package.json.
        define: { 'import.meta.url': '__txlImportMetaUrl', __TXL_VERSION__: JSON.stringify(packageVersion(root)) },
        banner: { js: "var __txlImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
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
      writeFileSync(join(tmp, 'package.json'), '{ "type": "commonjs" }\n');
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

/** The version in the package's package.json (built into the bundle). */
function packageVersion(root: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new TxlError('TXL_BUNDLE', `${join(root, 'package.json')}: no "version" string`);
  return pkg.version;
}

/**
 * An esbuild plugin giving yargs lighter stand-ins for two dependencies that cost more to load than
 * the rest of the CLI under the lab's emulation (bench/cli-startup.ts, a --cpu-prof of `txl create`):
 * - `string-width` (three copies, for yargs, cliui and wrap-ansi): each compiles Unicode property
 *   regular expressions (RGI_Emoji...) and an Intl.Segmenter when loaded, ~0.6 s each in the lab's
 *   dom0, only to measure help text; toolstack/cli/string-width-lite.ts measures the same text.
 * - `assert`, imported by yargs for two checks: loading Node's assert module also creates the stderr
 *   stream and its colour support (~0.4 s); the stand-in has the two functions yargs calls.
 * - `y18n`, yargs' translations: it looks for yargs' locales/en.json from the bundle's folder, where it
 *   is not, with a stat over 9p (~0.15 s) on the first message of every start, then formats the
 *   English text yargs passed; the stand-in formats it at once (the same text the bundle printed).
 */
function lightDependenciesPlugin(root: string): import('esbuild').Plugin {
  return {
    name: 'txl-light-dependencies',
    setup(build) {
      build.onResolve({ filter: /^string-width$/ }, () => ({ path: join(root, 'dist', 'toolstack', 'cli', 'string-width-lite.js') }));
      build.onResolve({ filter: /^(node:)?assert$/ }, (args) => (args.importer.includes(`${join('node_modules', 'yargs')}`) ? { path: 'assert', namespace: 'txl-light-assert' } : undefined));
      build.onResolve({ filter: /^y18n$/ }, () => ({ path: 'y18n', namespace: 'txl-light-y18n' }));
      build.onLoad({ filter: /.*/, namespace: 'txl-light-y18n' }, () => ({
        loader: 'js',
        contents: [
          "import { format } from 'node:util';",
          '// y18n 5 without locale files: __(text, ...values), __n(singular, plural, count, ...values).',
          'export default function y18n() {',
          "  let locale = 'en';",
          '  const done = (args) => { if (typeof args[args.length - 1] === "function") args.pop()(); return args; };',
          '  return {',
          '    __: (text, ...args) => format(text, ...done(args)),',
          '    __n: (singular, plural, count, ...args) => { const text = count === 1 ? singular : plural; return format(text, ...(text.includes("%d") ? [count] : []), ...done(args)); },',
          '    setLocale: (l) => { locale = l; }, getLocale: () => locale, updateLocale: () => undefined,',
          '  };',
          '}',
        ].join('\n'),
      }));
      build.onLoad({ filter: /.*/, namespace: 'txl-light-assert' }, () => ({
        loader: 'js',
        contents: [
          'const fail = (message, fallback) => { throw message instanceof Error ? message : Object.assign(new Error(message ?? fallback), { code: "ERR_ASSERTION" }); };',
          'export const strictEqual = (actual, expected, message) => { if (!Object.is(actual, expected)) fail(message, `Expected values to be strictly equal: ${String(actual)} !== ${String(expected)}`); };',
          'export const notStrictEqual = (actual, expected, message) => { if (Object.is(actual, expected)) fail(message, `Expected "actual" to be strictly unequal to: ${String(expected)}`); };',
        ].join('\n'),
      }));
    },
  };
}
