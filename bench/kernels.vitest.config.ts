// Runs bench/kernels-micro.ts (not a test: a benchmark that prints its table) under Vitest, which loads tfjs and its
// wasm backend in Node as the unit tests do. `npm run bench:kernels` (KERNEL_ROUNDS=N).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['bench/kernels-micro.ts'],
    environment: 'node',
    testTimeout: 24 * 3600_000,
    hookTimeout: 600_000,
  },
});
