// `npx playwright test -c scripts/recipe-maps.playwright.config.ts`: the default recipe's full run in the browser and
// its trained-vs-untrained maps in the Maps tab (scripts/recipe-maps.spec.ts). Not part of `npm test` (minutes long).
import { defineConfig } from '@playwright/test';
import { fileURLToPath } from 'node:url';
import base from '../playwright.config';

export default defineConfig({
  ...base,
  testDir: '.',
  testMatch: /recipe-maps\.spec\.ts/,
  timeout: 3600_000,
  projects: [base.projects![0]],
  webServer: [{ ...(base.webServer as NonNullable<typeof base.webServer>[])[0], timeout: 300_000, cwd: fileURLToPath(new URL('..', import.meta.url)) }],
});
