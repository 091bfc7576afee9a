import { expect, test } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { rowNamed } from './helpers/ingest';

// The studio opens on the bundled sample CT: viewer, window presets, crosshair readout in HU and mm,
// the preprocessed view; screenshots go to artifacts/screenshots/.
test('the sample CT is shown on start with HU/mm readout, window presets and the model view', async ({ page }) => {
  page.on('pageerror', (e) => console.log('[pageerror]', e.message));
  page.on('console', (m) => /\[(viewer|ingest)\]/.test(m.text()) && console.log('[page]', m.text()));
  mkdirSync('artifacts/screenshots', { recursive: true });
  await page.goto('/');
  const row = rowNamed(page, 'sample-ct.nii.gz');
  await expect(row).toHaveAttribute('data-status', 'ok', { timeout: 60_000 });
  await expect(row.getByTestId('row-dims')).toHaveText('122 × 101 × 112');
  const viewer = page.getByTestId('viewer');
  await expect(viewer).toHaveAttribute('data-shown', 'sample-ct.nii.gz');
  await expect(viewer).toHaveAttribute('data-busy', 'false');

  // The crosshair starts at the centre: the readout names a value in HU and a position in mm.
  await expect(page.getByTestId('readout-value')).toHaveText(/^-?\d+(\.\d)? HU$/);
  await expect(page.getByTestId('readout-mm')).toHaveText(/^-?\d+(\.\d)?, -?\d+(\.\d)?, -?\d+(\.\d)? mm$/);
  // Clicking elsewhere in a slice moves it.
  const before = await page.getByTestId('readout-vox').textContent();
  const box = (await page.getByTestId('viewer-canvas').boundingBox())!;
  await page.mouse.click(box.x + box.width * 0.2, box.y + box.height * 0.3);
  await expect(page.getByTestId('readout-vox')).not.toHaveText(before!);

  // Window presets.
  await page.getByTestId('window-lung').click();
  await expect(page.locator('.readout-window')).toHaveText('window -1350 … 150');
  await page.getByTestId('window-training').click();
  await expect(page.locator('.readout-window')).toHaveText('window -175 … 250');
  await page.getByTestId('window-soft').click();
  await expect(page.locator('.readout-window')).toHaveText('window -160 … 240');
  await viewer.screenshot({ path: 'artifacts/screenshots/viewer.png' });
  await page.screenshot({ path: 'artifacts/screenshots/studio.png' });

  // As the model sees it: the preprocessed volume, windowed to [0, 1].
  await page.getByTestId('model-view-toggle').check();
  await expect(viewer).toHaveAttribute('data-mode', 'preprocessed', { timeout: 60_000 });
  await expect(page.getByTestId('viewer-status')).toContainText('As the model sees it · 3×3×3 mm · HU [-175, 250]');
  await expect(page.getByTestId('readout-value')).toHaveText(/^\d(\.\d+)? \(≈ -?\d+ HU\)$/);
  await expect(page.getByTestId('preprocess-dims')).toHaveCount(1);
  await viewer.screenshot({ path: 'artifacts/screenshots/viewer-model.png' });
  await page.getByTestId('model-view-toggle').uncheck();
  await expect(viewer).toHaveAttribute('data-mode', 'scan');
});
