import { expect, test } from '@playwright/test';
import { join } from 'node:path';
import { DATA, pickFolder, rowNamed } from './helpers/ingest';

// A session of loading and viewing scans must never talk to anything but the page's own origin:
// every request of the page and its workers is recorded, and the page carries a strict CSP.
test('privacy: loading and viewing requests nothing outside the origin, under a CSP', async ({ page, context }) => {
  const requests: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => console.log('[pageerror]', e.message));

  const response = await page.goto('/');
  const headers = response!.headers();
  const csp = headers['content-security-policy'] ?? '';
  expect(csp).toContain("default-src 'self'");
  expect(csp).toMatch(/connect-src 'self'/);
  expect(headers['cross-origin-opener-policy']).toBe('same-origin');
  expect(headers['cross-origin-embedder-policy']).toBe('require-corp');

  // The bundled samples load on start and the first is shown.
  await expect(rowNamed(page, 'sample-ct.nii.gz')).toHaveAttribute('data-status', 'ok', { timeout: 60_000 });
  await expect(rowNamed(page, 'sample-chest-ct.nii.gz')).toHaveAttribute('data-status', 'ok', { timeout: 60_000 });
  await expect(page.getByTestId('viewer')).toHaveAttribute('data-shown', 'sample-ct.nii.gz');
  // A DICOM series (dcm2niix WebAssembly in a nested worker) and a NIfTI.
  await pickFolder(page, join(DATA, 'dicom-ct3slice-dcmqi/series'));
  await expect(page.locator('[data-testid="dataset-row"][data-status="ok"]')).toHaveCount(3);
  // Viewing: windows, layouts, the preprocessed view, every tab.
  await page.getByTestId('window-lung').click();
  await page.getByTestId('layout-axial').click();
  await page.getByTestId('layout-mpr').click();
  await page.getByTestId('model-view-toggle').check();
  await expect(page.getByTestId('viewer')).toHaveAttribute('data-mode', 'preprocessed', { timeout: 60_000 });
  for (const tab of ['train', 'maps', 'benchmark', 'preprocess']) await page.getByTestId(`tab-${tab}`).click();

  const origin = new URL(page.url()).origin;
  const foreign = requests.filter((u) => !(u.startsWith(`${origin}/`) || u.startsWith('data:') || u.startsWith('blob:')));
  console.log(`[privacy] ${requests.length} requests recorded, ${foreign.length} outside ${origin}`);
  expect(foreign).toEqual([]);
  // The recording sees worker traffic too: the DICOM decoder's WebAssembly was fetched from the origin.
  expect(requests.some((u) => /dcm2niix.*\.wasm$/.test(u))).toBe(true);
  for (const f of ['sample-ct.nii.gz', 'sample-ct_seg.nii.gz', 'sample-chest-ct.nii.gz']) expect(requests.some((u) => u.endsWith(`/${f}`))).toBe(true);
});
