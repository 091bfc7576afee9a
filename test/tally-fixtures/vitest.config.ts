// A deliberately broken mini-suite for test/test-tally.test.ts (never part of the main run: its files end in
// .fixture.ts, which the main config does not include).
import { defineConfig } from 'vitest/config';

export default defineConfig({ test: { include: ['*.fixture.ts'], root: import.meta.dirname } });
