import { expect, test } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { rowNamed } from './helpers/ingest';

// The README's quick start as a newcomer meets it, on the dev server that `npm start` serves (project "dev") and on
// the build (project "build"): the bundled scans load by themselves, Start trains with the default settings on the
// auto backend (loss curve and position heatmaps appear), and a similarity map and a benchmark run start from there.
// Nothing is dropped or typed in.

const SHOTS = resolve('artifacts/screenshots');

test('first run: bundled scans → Start → training on the auto backend; a map and a benchmark start', async ({ page }, testInfo) => {
  test.setTimeout(360_000);
  mkdirSync(SHOTS, { recursive: true });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && console.log(`[${testInfo.project.name} page]`, m.text()));

  await page.goto('/');
  // While the samples load the viewer says so, once (never "drop a scan" over a scan being parsed).
  await expect(page.getByTestId('viewer-empty')).toHaveCount(1).catch(() => {}); // may already be gone on a fast load
  await expect(rowNamed(page, 'sample-ct.nii.gz')).toHaveAttribute('data-status', 'ok', { timeout: 120_000 });
  await expect(rowNamed(page, 'sample-chest-ct.nii.gz')).toHaveAttribute('data-status', 'ok', { timeout: 120_000 });
  await expect(rowNamed(page, 'sample-ct.nii.gz').getByTestId('row-labels')).toContainText('61 ids');
  await expect(page.getByTestId('dataset-row')).toHaveCount(2);
  await expect(page.getByTestId('viewer-empty')).toHaveCount(0);

  // Train with the defaults: two volumes are selected, nothing to fix, Start is enabled.
  await page.getByTestId('tab-train').click();
  await expect(page.getByTestId('config-issues')).toHaveCount(0);
  await expect(page.getByTestId('btn-start')).toBeEnabled();
  await page.getByTestId('btn-start').click();
  await expect(page.getByTestId('run-phase')).toHaveText('running', { timeout: 180_000 });
  await expect
    .poll(async () => Number((await page.getByTestId('run-step').textContent())?.match(/step (\d+)/)?.[1] ?? 0), { timeout: 180_000 })
    .toBeGreaterThanOrEqual(3);
  await expect(page.getByTestId('run-errors')).toHaveCount(0);
  expect(Number(await page.getByTestId('plot-loss').getAttribute('data-points'))).toBeGreaterThanOrEqual(3);
  await expect(page.getByTestId('heatmap-pair').first()).toBeVisible();

  // The auto backend is named; anything but WebGPU comes with the reason, in words.
  const badge = (await page.getByTestId('backend-badge').textContent()) ?? '';
  const backend = badge.split(' ')[0];
  expect(['webgpu', 'webgl', 'wasm', 'cpu']).toContain(backend);
  if (backend !== 'webgpu') await expect(page.getByTestId('backend-warning')).toContainText(`running on ${backend}`);
  console.log(`[first-run ${testInfo.project.name}] auto backend: ${badge}; ${await page.getByTestId('run-step').textContent()}, ${await page.getByTestId('run-rate').textContent()}`);
  await page.screenshot({ path: resolve(SHOTS, `first-run-${testInfo.project.name}.png`) });
  await page.getByTestId('btn-pause').click();
  await expect(page.getByTestId('run-phase')).toHaveText('paused', { timeout: 120_000 });

  // A similarity map starts from a click on the scan (then cancelled: the full map is the maps test's job).
  await page.getByTestId('tab-maps').click();
  await expect(page.getByTestId('maps-unavailable')).toHaveCount(0);
  await page.getByTestId('layout-axial').click();
  const canvas = page.getByTestId('viewer-canvas');
  const box = (await canvas.boundingBox())!;
  await canvas.click({ position: { x: box.width * 0.45, y: box.height * 0.55 } });
  await expect(page.getByTestId('maps-panel')).toHaveAttribute('data-status', /running|done/, { timeout: 60_000 });
  await expect.poll(async () => Number(await page.getByTestId('maps-panel').getAttribute('data-progress-done')), { timeout: 120_000 }).toBeGreaterThan(0);
  if ((await page.getByTestId('maps-panel').getAttribute('data-status')) === 'running') await page.getByTestId('maps-cancel').click();
  await expect(page.getByTestId('maps-panel')).not.toHaveAttribute('data-status', 'running', { timeout: 60_000 });

  // A benchmark run starts with its defaults (then cancelled).
  await page.getByTestId('tab-benchmark').click();
  await expect(page.getByTestId('bench-run')).toBeEnabled();
  await page.getByTestId('bench-run').click();
  await expect(page.getByTestId('bench-phase')).toHaveAttribute('data-phase', /running|preparing|done/, { timeout: 60_000 });
  await expect(page.getByTestId('bench-error')).toHaveCount(0);
  if ((await page.getByTestId('bench-cancel').isEnabled())) await page.getByTestId('bench-cancel').click();
  expect(pageErrors).toEqual([]);
});
