import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // WebGPU-under-Node (Dawn) tests share one adapter; keep files in one process at a time.
    fileParallelism: false,
  },
});
