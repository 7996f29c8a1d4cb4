// Process entry point: runs main() on the real argv and exits with its status.
// `txl --version` alone is answered here without loading yargs, which is most of the CLI's startup
// time (see bench/cli-startup.ts); every other command line goes through main().
// No top-level await: dist/bundle is built from this file as CommonJS (toolstack/cli/bundle.ts).
const argv = process.argv.slice(2);
async function run(): Promise<void> {
  if (argv.length === 1 && argv[0] === '--version') {
    const { txlVersion } = await import('./version.js');
    process.stdout.write(`${txlVersion()}\n`);
  } else {
    const { main } = await import('./main.js');
    process.exitCode = await main(argv);
  }
}
void run();
