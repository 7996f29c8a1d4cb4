// Inside a lab dom0: N getdomaininfo calls through txl's privcmd backend in one process; prints ns.
// Run by bench/hypercall.ts as `node dist/bench/hypercall-dom0.js N`.
import { openPrivcmdHypervisor } from '../hypervisor/privcmd/backend.js';

const n = Number(process.argv[2] ?? 10000);
const hv = await openPrivcmdHypervisor();
try {
  const calls = hv.calls;
  for (let i = 0; i < 200; i++) calls.getDomainInfo(0); // warm up the JIT, as the C loop has no such cost
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (calls.getDomainInfo(0)?.domid !== 0) throw new Error(`getdomaininfo(0) failed at call ${i}`);
  }
  process.stdout.write(`${process.hrtime.bigint() - start}\n`);
} finally {
  await hv.close();
}
