// Runs scripts/recipe-experiment.ts (not a test: an experiment that prints and writes its numbers) under Vitest,
// which loads tfjs and its wasm backend in Node as the unit tests do. `npm run recipe` (arguments in RECIPE_ARGS).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['scripts/recipe-experiment.ts'],
    environment: 'node',
    testTimeout: 24 * 3600_000,
    hookTimeout: 600_000,
    reporters: ['dot'],
  },
});
