import { defineConfig } from 'vitest/config';

// Tests run real sockets and real worker threads; on a 2-core machine two
// files at a time keeps them honest without starving the workers they spawn.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // The pick bench smoke test measures bytes allocated per pick, which needs a forced GC.
    execArgv: ['--expose-gc'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
