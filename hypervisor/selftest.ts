// Runs the shared scenario suite against the backend openHypervisor() selects and prints JSON results:
// `node dist/hypervisor/selftest.js` inside a lab dom0 proves the privcmd backend on real Xen.
import { openHypervisor } from './open.js';
import { runScenarios } from './scenarios.js';

const hv = await openHypervisor();
try {
  const results = await runScenarios(hv);
  process.stdout.write(`${JSON.stringify({ backend: hv.backend, xen: (await hv.xenVersion()).abi, results }, null, 1)}\n`);
  process.exitCode = results.every((r) => r.ok) ? 0 : 1;
} finally {
  await hv.close();
}
