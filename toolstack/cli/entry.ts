// Process entry point: runs main() on the real argv and exits with its status.
// `txl --version` alone is answered here without loading yargs, which is most of the CLI's startup
// time (see bench/cli-startup.ts); every other command line goes through main().
// No top-level await: dist/bundle is built from this file as CommonJS (toolstack/cli/bundle.ts). So a
// command whose work stops without finishing (its event loop empties while it awaits something that
// will never come) must not exit 0: the status is 70 (internal error) until main() returns one.
const argv = process.argv.slice(2);
let finished = false;
process.exitCode = 70;
process.on('exit', () => {
  if (!finished) process.stderr.write('txl: internal error: the command stopped before it finished (nothing left to wait for)\n');
});
async function run(): Promise<void> {
  if (argv.length === 1 && argv[0] === '--version') {
    const { txlVersion } = await import('./version.js');
    process.stdout.write(`${txlVersion()}\n`);
    process.exitCode = 0;
  } else {
    const { main } = await import('./main.js');
    process.exitCode = await main(argv);
  }
  finished = true;
}
void run();
