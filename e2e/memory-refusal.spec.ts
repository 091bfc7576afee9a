import { expect, test } from '@playwright/test';
import { join, resolve } from 'node:path';
import { DATA, openEmpty, pickFiles } from './helpers/ingest';

// The run setup refuses a run whose step cannot fit the wasm heap, before anything starts, with the numbers
// (src/store/runConfig.ts estimateStepMemory / WASM_HEAP_LIMIT_BYTES): preset H at r = 32 with sw = 16 (50 crops) on
// wasm; B, and H with the default 22 crops (2.4 GiB of heap measured with the fused cpu/wasm kernels), are accepted.

const SCANS = [join(DATA, 'ct-abdomen-totalseg/example_ct.nii.gz'), join(DATA, 'ct-chest-elastix/chest_ct_derived_4x.nii.gz')];

test('preset H at r = 32 with 50 crops on wasm is refused before it starts, naming the heap it needs', async ({ page }) => {
  await openEmpty(page);
  await pickFiles(page, SCANS);
  await expect(page.getByTestId('dataset-row')).toHaveCount(2);
  await page.getByTestId('tab-train').click();
  await expect(page.getByTestId('train-panel')).toBeVisible();
  await page.getByTestId('cfg-backend').selectOption('wasm');
  await page.getByTestId('cfg-cropSize').fill('32');
  await page.getByTestId('cfg-preset').selectOption('B');
  await expect(page.getByTestId('config-issues')).toHaveCount(0);
  await expect(page.getByTestId('btn-start')).toBeEnabled();
  await page.getByTestId('cfg-preset').selectOption('H');
  await expect(page.getByTestId('config-issues')).toHaveCount(0);
  await expect(page.getByTestId('btn-start')).toBeEnabled();
  await page.getByTestId('cfg-randomCrops').fill('16');
  await expect(page.getByTestId('btn-start')).toBeDisabled();
  await expect(page.getByTestId('run-setup')).toContainText(/preset H at r = 32 with 50 crops per step needs about [4-9]\.\d GiB of wasm heap/);
  await expect(page.getByTestId('run-setup')).toContainText('over the 4.0 GiB a wasm backend can address');
  await page.getByTestId('run-setup').screenshot({ path: resolve('artifacts/screenshots/perf-memory-refusal.png') });
});
