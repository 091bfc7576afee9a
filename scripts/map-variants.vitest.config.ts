// Runs scripts/map-variants.ts (an experiment, not a test) under Vitest, which loads tfjs's wasm backend in Node.
// `npm run map-variants` (arguments in MAPV_ARGS).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['scripts/map-variants.ts'],
    environment: 'node',
    testTimeout: 24 * 3600_000,
    hookTimeout: 600_000,
    reporters: ['dot'],
  },
});
