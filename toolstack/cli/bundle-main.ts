// `node dist/toolstack/cli/bundle-main.js [--if-stale]`: builds dist/bundle/ (bundle.ts) after tsc;
// run by `npm run build`. With --if-stale, only when it is missing or older than dist/.
import { relative } from 'node:path';
import { buildBundle, bundleDir, bundleIsFresh, packageRoot } from './bundle.js';

const root = packageRoot();
try {
  if (process.argv.includes('--if-stale') && bundleIsFresh(root)) {
    process.stdout.write(`${relative(process.cwd(), bundleDir(root))}: up to date\n`);
  } else {
    process.stdout.write(`built ${relative(process.cwd(), await buildBundle(root))}\n`);
  }
} catch (error) {
  process.stderr.write(`txl bundle: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
