// Runs bench/half-dawn.ts (a benchmark that prints its table, not a test) under Vitest, which starts WebGPU under
// Node (Dawn) as the unit tests do. `npm run bench:f16-dawn` (HALF_SIZES, HALF_ROUNDS).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['bench/half-dawn.ts'],
    environment: 'node',
    testTimeout: 3600_000,
  },
});
