import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // FUSE mounts, emulators and real WebDAV clients share one machine: keep parallelism modest.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The JSON report feeds the plain `N passed, N failed, N skipped` line that CI reads (.ci/summary.mjs).
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-report.json' },
  },
});
