import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, findChromium } from './scripts/chromium.mjs';

// PW_PORT / PW_OUTDIR let several people test their own builds side by side.
const port = Number(process.env.PW_PORT ?? 4173);
const outDir = process.env.PW_OUTDIR ?? 'dist';

// Browser tests run the built app (vite preview) in Debian's Chromium: WebGPU through SwiftShader.
export default defineConfig({
  testDir: 'e2e',
  outputDir: process.env.PW_RESULTS ?? 'test-results',
  timeout: 240_000,
  expect: { timeout: 60_000 },
  workers: 1,
  retries: 0,
  use: {
    baseURL: `http://localhost:${port}`,
    viewport: { width: 1400, height: 900 },
    launchOptions: { executablePath: findChromium() ?? undefined, args: CHROMIUM_ARGS },
  },
  webServer: {
    command: `npx vite preview --host localhost --port ${port} --strictPort --outDir ${outDir}`,
    url: `http://localhost:${port}`,
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
  },
});
