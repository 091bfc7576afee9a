// Crop similarity maps in the built app, WebGPU forced (SwiftShader here), tiny preset: train a few steps on the
// sample CT and the chest CT, click on the viewer, wait for the overlay, read its values back (within [−1, 1],
// ≈ 1 and maximal at the clicked point), toggle trained/untrained, the base-crop matrix, export the NIfTI and parse
// it, cancel a map mid-way. A screenshot of the overlay lands in artifacts/screenshots/similarity-map.png.
// MAPS_TIMING=cpu,wasm,webgpu times one full map of the sample CT per backend through window.selftest.maps.
import { expect, test, type Page } from '@playwright/test';
import { gunzipSync } from 'fflate';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rowNamed } from './helpers/ingest';

const SHOTS = resolve('artifacts/screenshots');
const BACKEND = process.env.MAPS_BACKEND ?? 'webgpu';
const R = 16;
/** Window stride of the main map: 8 (r/2) looks right on the screenshot; MAPS_E2E_STRIDE=16 halves the run time. */
const STRIDE = Number(process.env.MAPS_E2E_STRIDE ?? 8);

interface MapsState {
  status: string;
  progress: { done: number; total: number } | null;
  message: string | null;
  query: { mm: number[]; origin: number[]; volumeId: string } | null;
  result: null | {
    volumeId: string;
    windows: number;
    backend: string;
    ms: number;
    scanDims: number[];
    grid: { r: number; stride: number; counts: number[] };
    maps: { kind: string; step: number; atQuery: number; summary: { min: number; max: number; median: number }; maxVoxel: number[]; maxMm: number[]; windowValues: { min: number; max: number } }[];
  };
  matrix: { status: string; n: number; matrices: { label: string; values: number[] }[] };
}

const mapsState = (page: Page) => page.evaluate(() => (window as unknown as { __vocoMaps: { state(): MapsState } }).__vocoMaps.state());

async function setField(page: Page, testId: string, value: string | number): Promise<void> {
  await page.getByTestId(testId).fill(String(value));
}

/** The bundled samples (abdomen CT with labels, chest CT), a tiny run trained for a few steps on BACKEND. */
async function trainTinyRun(page: Page, steps: number): Promise<void> {
  page.on('console', (m) => m.type() === 'error' && console.log('[page]', m.text()));
  page.on('pageerror', (e) => console.log('[pageerror]', e.message));
  await page.goto('/');
  await expect(rowNamed(page, 'sample-ct.nii.gz')).toHaveCount(1, { timeout: 120_000 });
  await expect(rowNamed(page, 'sample-chest-ct.nii.gz')).toHaveCount(1, { timeout: 120_000 });
  await expect(page.getByTestId('dataset')).toHaveAttribute('data-busy', 'false', { timeout: 120_000 });
  await expect(page.getByTestId('dataset-row')).toHaveCount(2);
  await page.getByTestId('tab-train').click();
  await page.getByTestId('cfg-preset').selectOption('tiny');
  await setField(page, 'cfg-cropSize', R);
  await setField(page, 'cfg-gridN', 3);
  await setField(page, 'cfg-batchVolumes', 2);
  await setField(page, 'cfg-randomCrops', 2);
  await setField(page, 'cfg-totalSteps', steps);
  await setField(page, 'cfg-warmupSteps', 1);
  await setField(page, 'cfg-checkpointEvery', 0);
  await setField(page, 'cfg-lr', '1e-3');
  await page.getByTestId('cfg-backend').selectOption(BACKEND);
  await expect(page.getByTestId('config-issues')).toHaveCount(0);
  await page.getByTestId('btn-start').click();
  await expect(page.getByTestId('run-phase')).toHaveText('done', { timeout: 200_000 });
  // The viewer shows the sample CT.
  await rowNamed(page, 'sample-ct.nii.gz').click();
  await expect(page.getByTestId('viewer')).toHaveAttribute('data-shown', /sample-ct/);
}

test.describe('similarity maps', () => {
  test.skip(!!process.env.MAPS_TIMING, 'timing run only');

  test('click → map overlay with 1 at the click, trained vs untrained, base matrix, export, cancel', async ({ page }, testInfo) => {
    test.setTimeout(900_000);
    mkdirSync(SHOTS, { recursive: true });
    await trainTinyRun(page, 4);
    await page.getByTestId('tab-maps').click();
    await expect(page.getByTestId('maps-panel')).toBeVisible();
    await expect(page.getByTestId('maps-embedding')).toContainText('model.embed');
    await expect(page.getByTestId('maps-unavailable')).toHaveCount(0);
    await setField(page, 'maps-stride', STRIDE);
    await page.getByTestId('maps-compare').selectOption('initial');

    // Click in the axial view, a little off the middle of the body.
    await page.getByTestId('layout-axial').click();
    const canvas = page.getByTestId('viewer-canvas');
    const box = (await canvas.boundingBox())!;
    await canvas.click({ position: { x: box.width * 0.42, y: box.height * 0.55 } });
    await expect(page.getByTestId('maps-panel')).toHaveAttribute('data-status', /running|done/, { timeout: 30_000 });
    await expect(page.getByTestId('maps-panel')).toHaveAttribute('data-status', 'done', { timeout: 300_000 });
    const clickedMm = (await page.getByTestId('readout-mm').textContent())!.replace(' mm', '').split(',').map(Number);

    const st = await mapsState(page);
    const res = st.result!;
    console.log(`[maps] ${res.windows} windows × ${res.maps.length} maps, stride ${res.grid.stride}, ${res.ms.toFixed(0)} ms on ${res.backend}`);
    expect(res.backend).toBe(BACKEND);
    expect(res.maps.map((m) => m.kind)).toEqual(['current', 'initial']);
    expect(st.query!.mm.map((v) => Math.round(v * 10) / 10)).toEqual(clickedMm); // the query is the clicked point
    for (const m of res.maps) {
      console.log(`[maps] ${m.kind}: at query ${m.atQuery.toFixed(4)}, max ${m.summary.max.toFixed(4)} at ${m.maxMm.map((v) => v.toFixed(1))} mm, min ${m.summary.min.toFixed(3)}, median ${m.summary.median.toFixed(3)}`);
      expect(m.windowValues.min).toBeGreaterThanOrEqual(-1);
      expect(m.windowValues.max).toBeLessThanOrEqual(1);
      expect(m.windowValues.max).toBeCloseTo(1, 4); // the query is one of the windows
      expect(m.summary.min).toBeGreaterThanOrEqual(-1);
      expect(m.summary.max).toBeLessThanOrEqual(1 + 1e-6);
      expect(m.atQuery).toBeGreaterThan(0.98);
      expect(m.summary.max - m.atQuery).toBeLessThan(0.02); // maximal at the click
      // …and the maximum sits where the user clicked (within a voxel of the 3 mm grid and half a window step).
      const dist = Math.hypot(...m.maxMm.map((v, a) => v - st.query!.mm[a]));
      expect(dist).toBeLessThan(6);
    }
    // The same values through the other door: the map's value at the clicked point.
    const valueAtClick = await page.evaluate((mm) => (window as unknown as { __vocoMaps: { valueAtMm(mm: number[]): number } }).__vocoMaps.valueAtMm(mm), st.query!.mm);
    expect(valueAtClick).toBeCloseTo(res.maps[0].atQuery, 6);

    // The overlay is a layer of the viewer with the display settings.
    const layers = await page.evaluate(() => (window as unknown as { __vocoMaps: { layers(): { name: string; calMin: number; calMax: number; dims: number[] }[] } }).__vocoMaps.layers());
    expect(layers.length).toBe(1);
    expect(layers[0].name).toContain('similarity-current');
    expect(layers[0].dims).toEqual(res.scanDims);
    const result = page.getByTestId('maps-result');
    await expect(result).toHaveAttribute('data-shown-kind', 'current');
    await expect(page.getByTestId('maps-colorbar')).toBeVisible();

    // Screenshot of the overlay on the sample CT (MPR through the clicked point), and of the panel.
    await page.getByTestId('layout-mpr').click();
    await page.waitForTimeout(1500);
    await page.screenshot({ path: join(SHOTS, 'similarity-map.png') });
    await page.getByTestId('maps-previews').scrollIntoViewIfNeeded();
    await page.getByTestId('maps-result').screenshot({ path: join(SHOTS, 'similarity-map-panel.png') });

    // Toggle to the untrained map: the viewer's layer follows.
    await page.getByTestId('maps-show-initial').click();
    await expect(result).toHaveAttribute('data-shown-kind', 'initial');
    await expect
      .poll(() => page.evaluate(() => (window as unknown as { __vocoMaps: { layers(): { name: string }[] } }).__vocoMaps.layers().map((l) => l.name).join()))
      .toContain('similarity-initial');
    await page.screenshot({ path: join(SHOTS, 'similarity-map-untrained.png') });
    await page.getByTestId('maps-show-current').click();

    // Export: a NIfTI on the scan's grid whose values are the map's.
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('maps-export').click()]);
    const path = testInfo.outputPath('map.nii.gz');
    await dl.saveAs(path);
    const nii = gunzipSync(new Uint8Array(readFileSync(path)));
    const dv = new DataView(nii.buffer, nii.byteOffset);
    expect(dv.getInt32(0, true)).toBe(348);
    expect([1, 2, 3].map((i) => dv.getInt16(40 + 2 * i, true))).toEqual(res.scanDims);
    expect(dv.getInt16(70, true)).toBe(16);

    // Base-crop matrix: n²×n², unit diagonal, symmetric.
    await page.getByTestId('maps-matrix-run').click();
    await expect(page.getByTestId('maps-matrix')).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
    const matrix = (await mapsState(page)).matrix;
    expect(matrix.n).toBe(3);
    expect(matrix.matrices.length).toBe(2);
    for (const m of matrix.matrices) {
      expect(m.values.length).toBe(81);
      for (let i = 0; i < 9; i++) {
        expect(m.values[i * 10]).toBeCloseTo(1, 4);
        for (let j = 0; j < 9; j++) expect(m.values[i * 9 + j]).toBeCloseTo(m.values[j * 9 + i], 5);
      }
    }
    await expect(page.getByTestId('maps-matrix-cell')).toHaveCount(2 * 81);
    await page.getByTestId('maps-matrix').screenshot({ path: join(SHOTS, 'similarity-matrix.png') });

    // Cancel mid-way: a fine stride (many batches), cancel once progress shows, the job stops early.
    await setField(page, 'maps-stride', 2);
    await page.getByTestId('maps-compare').selectOption('none');
    await page.getByTestId('maps-run').click();
    await expect.poll(async () => Number(await page.getByTestId('maps-panel').getAttribute('data-progress-done')), { timeout: 120_000 }).toBeGreaterThan(0);
    await page.getByTestId('maps-cancel').click();
    await expect(page.getByTestId('maps-panel')).toHaveAttribute('data-status', 'cancelled', { timeout: 60_000 });
    const cancelled = await mapsState(page);
    console.log(`[maps] cancelled at ${cancelled.progress!.done} / ${cancelled.progress!.total}`);
    expect(cancelled.progress!.done).toBeLessThan(cancelled.progress!.total / 2);
    // The worker is still healthy: the previous map is kept, and a new one runs to the end.
    expect(cancelled.result!.maps[0].atQuery).toBeGreaterThan(0.98);
    await setField(page, 'maps-stride', 16);
    await page.getByTestId('maps-run').click();
    await expect(page.getByTestId('maps-panel')).toHaveAttribute('data-status', 'done', { timeout: 120_000 });
    expect((await mapsState(page)).result!.grid.stride).toBe(16);
  });
});

test.describe('similarity map timing', () => {
  test.skip(!process.env.MAPS_TIMING, 'set MAPS_TIMING=cpu,wasm,webgpu to time full maps');

  test('full map of the sample CT at the default stride, per backend', async ({ page }) => {
    test.setTimeout(3_600_000);
    page.on('console', (m) => (m.type() === 'error' || m.text().startsWith('[maps]')) && console.log('[page]', m.text()));
    await page.goto('/selftest.html');
    await page.waitForFunction(() => (window as unknown as { selftestReady?: boolean }).selftestReady === true);
    const preset = process.env.MAPS_PRESET;
    const cropSize = process.env.MAPS_R ? Number(process.env.MAPS_R) : undefined;
    const stride = process.env.MAPS_STRIDE ? Number(process.env.MAPS_STRIDE) : undefined;
    const rows: unknown[] = [];
    for (const backend of process.env.MAPS_TIMING!.split(',')) {
      const res = await page.evaluate(
        (req) => (window as unknown as { selftest: { maps: { fullMapTiming(r: unknown): Promise<unknown> } } }).selftest.maps.fullMapTiming(req),
        { backend, preset, cropSize, stride, budgetMs: process.env.MAPS_BUDGET_S ? Number(process.env.MAPS_BUDGET_S) * 1000 : undefined },
      );
      console.log(`[maps timing] ${JSON.stringify(res)}`);
      rows.push(res);
    }
    mkdirSync('artifacts', { recursive: true });
    writeFileSync(join('artifacts', `maps-timing-${Date.now()}.json`), JSON.stringify(rows, null, 2));
  });
});

test.describe('similarity map batch profile', () => {
  test.skip(!process.env.MAPS_PROFILE, 'set MAPS_PROFILE=webgpu (and MAPS_PRESET, MAPS_R, MAPS_BATCH) to profile one batch');

  test('kernel times of one map batch', async ({ page }) => {
    test.setTimeout(1_800_000);
    page.on('console', (m) => m.type() === 'error' && console.log('[page]', m.text()));
    await page.goto('/selftest.html');
    await page.waitForFunction(() => (window as unknown as { selftestReady?: boolean }).selftestReady === true);
    for (const backend of process.env.MAPS_PROFILE!.split(','))
      for (const batch of (process.env.MAPS_BATCH ?? '64').split(',').map(Number)) {
        const res = await page.evaluate(
          (req) => (window as unknown as { selftest: { maps: { profileMapBatch(r: unknown): Promise<unknown> } } }).selftest.maps.profileMapBatch(req),
          { backend, preset: process.env.MAPS_PRESET, cropSize: process.env.MAPS_R ? Number(process.env.MAPS_R) : undefined, batch },
        );
        console.log(`[maps profile] ${JSON.stringify(res)}`);
      }
  });
});

test.describe('broadcast add probe', () => {
  test.skip(!process.env.MAPS_ADD_PROBE, 'set MAPS_ADD_PROBE=webgpu to compare 1-D and [1, d] bias adds');

  test('bias add: 1-D vs [1, d]', async ({ page }) => {
    await page.goto('/selftest.html');
    await page.waitForFunction(() => (window as unknown as { selftestReady?: boolean }).selftestReady === true);
    for (const [rows, dim] of [[16384, 96], [4096, 32], [4096, 128]]) {
      const res = await page.evaluate(
        (req) => (window as unknown as { selftest: { maps: { broadcastAddProbe(r: unknown): Promise<unknown> } } }).selftest.maps.broadcastAddProbe(req),
        { backend: process.env.MAPS_ADD_PROBE, rows, dim },
      );
      console.log(`[add probe] ${rows}×${dim}: ${JSON.stringify(res)}`);
    }
  });
});
