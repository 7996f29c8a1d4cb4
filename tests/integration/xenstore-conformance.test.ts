// The xenstore conformance suite against MemoryXenstore (the same cases run against C xenstored in tests/xen).
import { afterAll, describe, it } from 'vitest';
import { casesFor, conformanceRoot, runCase } from '../../xenstore/conformance.js';
import { MemoryXenstore, XenstoreClient } from '../../xenstore/index.js';

describe.each(['4.17', '4.20'] as const)('xenstore conformance: MemoryXenstore as %s', (version) => {
  // A dom0 with no guests, like the lab's: only domain 0 exists.
  const store = new MemoryXenstore({ xenDomains: [0], version });
  const root = conformanceRoot();
  const target = { version, connect: async () => XenstoreClient.overMemory(store, { timeoutMs: 5000 }) };
  casesFor('socket', version).forEach((c, index) => {
    it(c.name, async () => {
      await runCase(target, c, root, index);
    });
  });
  afterAll(() => {
    const problems = store.checkStore();
    if (problems.length) throw new Error(`store inconsistent after the suite: ${problems.join('; ')}`);
    if (store.internalErrors.length) throw new Error(`server hit internal errors: ${String(store.internalErrors[0])}`);
  });
});
