import { defineConfig } from 'vitest/config';

// `npm run test:image`: builds the container image with podman and runs it. Minutes, not
// seconds, so it is kept out of `npm test` (whose config includes only *.test.ts).
export default defineConfig({
  test: {
    include: ['test/image/**/*.image.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 900_000,
    hookTimeout: 900_000,
  },
});
