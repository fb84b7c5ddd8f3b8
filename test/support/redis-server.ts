// Lives in scripts/lib so the demo uses the same launcher as the tests.
export * from '../../scripts/lib/redis-server.js';
