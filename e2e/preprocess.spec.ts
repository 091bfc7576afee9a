import { expect, test } from '@playwright/test';

type Selftest = { preprocess: Record<string, () => Promise<unknown>> };
const call = (page: import('@playwright/test').Page, fn: string) =>
  page.evaluate((f) => (window as unknown as { selftest: Selftest }).selftest.preprocess[f](), fn);

test.beforeEach(async ({ page }) => {
  await page.goto('/selftest.html');
  await page.waitForFunction(() => (window as unknown as { selftestReady?: boolean }).selftestReady === true);
});

test('the preprocessing worker gives the main thread result and keeps the caller\'s scan', async ({ page }) => {
  const r = (await call(page, 'workerMatchesMainThread')) as Record<string, unknown>;
  expect(r.dims).toEqual(r.directDims);
  expect(r.affine).toEqual(r.directAffine);
  expect(r.maxDiff).toBe(0);
  expect(r.labelMismatches).toBe(0);
  expect(r.dataType).toBe('Float32Array');
  expect(r.labelType).toBe('Uint8Array');
  expect(r.spacing).toEqual([3, 3, 3]);
  expect(r).toMatchObject({ name: 'phantom-a', id: 'phantom-a', inputIntact: true });
  const dims = r.dims as number[];
  expect(dims[0]).toBeGreaterThanOrEqual(24);
  expect(dims[2]).toBeGreaterThanOrEqual(16);
});

test('transferInput hands the scan buffers to the worker', async ({ page }) => {
  const r = (await call(page, 'workerTransfersInputWhenAsked')) as { inputDetached: boolean };
  expect(r.inputDetached).toBe(true);
});

test('failures reject with the volume name, without disturbing other requests', async ({ page }) => {
  const r = (await call(page, 'workerRejectsBadVolumes')) as { ok: boolean; message?: string; name?: string }[];
  expect(r[0].ok).toBe(false);
  expect(r[0].message).toMatch(/Preprocessing "broken-scan" \(broken-scan\.nii\.gz\) failed: the image has 10 voxel values/);
  expect(r[1]).toEqual({ ok: true, name: 'phantom-ok' });
  expect(r[2].ok).toBe(false);
  expect(r[2].message).toMatch(/"all-air".*no voxel above 0/);
});
