import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, findChromium } from './scripts/chromium.mjs';

// PW_PORT / PW_DEV_PORT / PW_OUTDIR let several people test their own builds side by side.
const port = Number(process.env.PW_PORT ?? 4173);
const devPort = Number(process.env.PW_DEV_PORT ?? port + 1010);
const outDir = process.env.PW_OUTDIR ?? 'dist';

// Browser tests run in Debian's Chromium (WebGPU through SwiftShader): every spec against the built app
// (vite preview), and the newcomer's first run also against the dev server that `npm start` serves.
export default defineConfig({
  testDir: 'e2e',
  outputDir: process.env.PW_RESULTS ?? 'test-results',
  timeout: 240_000,
  expect: { timeout: 60_000 },
  workers: 1,
  retries: 0,
  use: {
    viewport: { width: 1400, height: 900 },
    launchOptions: { executablePath: findChromium() ?? undefined, args: CHROMIUM_ARGS },
  },
  projects: [
    { name: 'build', use: { baseURL: `http://localhost:${port}` } },
    { name: 'dev', testMatch: /first-run\.spec\.ts/, use: { baseURL: `http://localhost:${devPort}` } },
  ],
  webServer: [
    {
      command: `npx vite preview --host localhost --port ${port} --strictPort --outDir ${outDir}`,
      url: `http://localhost:${port}`,
      reuseExistingServer: !process.env.CI,
      timeout: 60_000,
    },
    {
      // What `npm start` runs (scripts/start.mjs), on a port of its own.
      command: `npx vite --host localhost --port ${devPort} --strictPort`,
      url: `http://localhost:${devPort}`,
      reuseExistingServer: !process.env.CI,
      timeout: 120_000,
    },
  ],
});
