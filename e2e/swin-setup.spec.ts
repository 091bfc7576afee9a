import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, test } from '@playwright/test';

// The run setup with the authors' backbone: VoCo-B is offered, r = 32 is refused with the reason (r ≥ 64), r = 64 is
// accepted for the crop size and the parameter count shows. Screenshot: artifacts/screenshots/swin-setup.png.
const SHOTS = resolve(import.meta.dirname, '../artifacts/screenshots');

test('run setup: VoCo-B refuses r = 32 with the reason and takes r = 64', async ({ page }) => {
  mkdirSync(SHOTS, { recursive: true });
  await page.goto('/');
  await page.getByTestId('tab-train').click();
  await expect(page.getByTestId('train-panel')).toBeVisible();
  await page.getByTestId('cfg-preset').selectOption('VoCo-B');
  await page.getByTestId('cfg-cropSize').fill('32');
  await expect(page.getByTestId('config-issues')).toContainText('needs r ≥ 64');
  await page.getByTestId('cfg-cropSize').fill('64');
  await expect(page.getByTestId('config-issues')).not.toContainText('needs r ≥ 64');
  await expect(page.getByTestId('preset-facts')).toContainText(/53/);
  await page.screenshot({ path: resolve(SHOTS, 'swin-setup.png') });
});
