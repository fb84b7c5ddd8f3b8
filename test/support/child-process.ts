// Lives in scripts/lib so the demo uses the same helper as the tests.
export * from '../../scripts/lib/child-process.js';
