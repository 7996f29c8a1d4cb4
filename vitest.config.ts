// Test tiers: `unit` (beside the code, plus tests/integration: simulator and in-memory xenstore)
// and `lab` (tests/xen: real Xen under QEMU, see lab/README.md). `npm test` runs both.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['**/*.test.ts'],
          // .cache/ holds lab and image build work (guest trees, copies of the checkout): never tests.
          exclude: ['node_modules/**', 'dist/**', 'tests/xen/**', '.cache/**'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'lab',
          include: ['tests/xen/**/*.test.ts'],
          // Boots each Xen version at most once per run and kills QEMU at the end (see labFor).
          globalSetup: ['tests/xen/lab-session.ts'],
          // One lab boot per Xen version is shared by the files of a run; they must not race for QEMU.
          fileParallelism: false,
          testTimeout: 20 * 60_000,
          hookTimeout: 30 * 60_000,
        },
      },
    ],
  },
});
