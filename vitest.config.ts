import { defineConfig } from 'vitest/config';

// Workspace packages export their TypeScript under the "source" condition, so tests
// run the code as written, with no build step in between. Vitest resolves test imports as
// server-side code: `resolve.conditions` alone does not reach them, `ssr.resolve.conditions` does
// (without it, the packages' compiled dist/ was tested, stale whenever it had not been rebuilt).
const resolve = { conditions: ['source'] };
const ssr = { resolve: { conditions: ['source'] } };

export default defineConfig({
  resolve,
  ssr,
  test: {
    projects: [
      {
        resolve,
        ssr,
        test: {
          name: 'unit',
          include: ['{shared,stream-handle,upload-worker,cloud-function,evidence-tools}/test/**/*.test.ts'],
        },
      },
      {
        resolve,
        ssr,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        resolve,
        ssr,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
          // Each e2e file starts its own Redis, camera and services; two at once on two
          // cores would measure contention, not our code. One fork runs the files in turn.
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
