// Importing the authors' checkpoints in the browser: the fixture .pt (a DDP training checkpoint subset) and the
// float16 .safetensors show their key reports before anything is used; a dropped .pt goes to Train → Import
// model, not to the scan loader. Screenshot: artifacts/screenshots/import-report.png.
import { expect, test } from '@playwright/test';
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { VOCO_SWIN_FIXTURE } from '../test/helpers/paths';
import { bytesSource } from '../src/model/checkpoints/byteSource';
import { inspectCheckpoint, readMappedWeights } from '../src/model/checkpoints/open';

const SHOTS = resolve('artifacts/screenshots');

test.beforeEach(async ({ page }) => {
  await page.goto('/?sample=0');
  await page.getByTestId('tab-train').click();
});

test('the fixture .safetensors: usable report, every weight mapped and converted from float16', async ({ page }) => {
  await page.getByTestId('input-import-model').setInputFiles(resolve(VOCO_SWIN_FIXTURE, 'swin-fs12.safetensors'));
  const report = page.getByTestId('import-report');
  await expect(report).toHaveAttribute('data-usable', 'true');
  await expect(page.getByTestId('import-verdict')).toHaveText('Usable: VoCoHead (encoder + student and teacher heads)');
  await expect(page.getByTestId('count-mapped')).toHaveText('149 mapped');
  await expect(page.getByTestId('count-missing')).toHaveText('0 missing');
  await expect(page.getByTestId('count-wrong-shape')).toHaveText('0 wrong shape');
  await expect(page.getByTestId('import-model')).toHaveText('custom (feature size 12) · heads 128 wide');
  await expect(report).toContainText('149 weights are converted to float32 (float16 → float32)');
  await page.getByTestId('list-mapped').locator('summary').click();
  await expect(page.getByTestId('list-mapped').locator('tr')).toHaveCount(149);
  await expect(page.getByTestId('list-mapped')).toContainText('backbone.swinViT.layers4.0.downsample.reduction.weight');
});

test('the fixture DDP .pt: module. removed, step 7, index buffer checked, refused for its missing weights, Use disabled', async ({ page }) => {
  await page.getByTestId('input-import-model').setInputFiles(resolve(VOCO_SWIN_FIXTURE, 'swin-fs12-subset.pt'));
  const report = page.getByTestId('import-report');
  await expect(report).toHaveAttribute('data-usable', 'false');
  await expect(page.getByTestId('import-step')).toHaveText('7');
  await expect(page.getByTestId('count-mapped')).toHaveText('21 mapped');
  await expect(page.getByTestId('count-buffers')).toHaveText('1 index buffers (1 match)');
  await expect(report).toContainText("removed DDP prefix 'module.' (22 of 22 keys)");
  await expect(page.getByTestId('import-refusals')).toContainText('weights of the model are missing');
  await expect(page.getByTestId('btn-import-use')).toBeDisabled();
  await page.getByTestId('list-missing').locator('summary').click();
  await expect(page.getByTestId('list-missing')).toContainText('backbone.encoder10.layer.conv2.conv.weight');
  mkdirSync(SHOTS, { recursive: true });
  await page.getByTestId('model-import').screenshot({ path: resolve(SHOTS, 'import-report.png') });
});

test('a dropped .pt opens the import report; a file that is not a checkpoint is refused with its name', async ({ page }) => {
  await page.getByTestId('tab-maps').click();
  const pt = readFileSync(resolve(VOCO_SWIN_FIXTURE, 'swin-fs12-subset.pt')).toString('base64');
  await page.evaluate((b64) => {
    const dt = new DataTransfer();
    dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'dropped.pt'));
    const target = document.querySelector('[data-testid="drop-zone"]')!;
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, pt);
  await expect(page.getByTestId('model-import')).toContainText('Import model · dropped.pt');
  await expect(page.getByTestId('import-step')).toHaveText('7');
  await expect(page.getByTestId('dataset-row')).toHaveCount(0);
  await page.getByTestId('input-import-model').setInputFiles({ name: 'notes.pt', mimeType: 'application/octet-stream', buffer: Buffer.from('not a checkpoint at all') });
  await expect(page.getByTestId('import-error')).toHaveText('notes.pt: is not a PyTorch checkpoint (neither the zip format of torch.save nor a legacy one)');
});

test('an imported model as a run: Use → saved run (swin-tiny, step) → .pt export re-reads bit for bit → open on the sample scans → a finished similarity map and benchmark scores, imported vs random init', async ({ page }) => {
  // What fits this machine (2 CPU cores, no GPU, wasm: seconds per 64³ crop of the reference encoder): the map in
  // tiles of r³ (the Maps tab's automatic layout for the reference encoder: 2×2×2 tiles + the query on the abdomen
  // CT), and the benchmark's retrieval task on 2 structures × 2 crops for the imported and the randomly initialised
  // weights. Each phase's time is logged.
  test.setTimeout(600_000);
  page.on('pageerror', (e) => console.log('[pageerror]', e.message));
  const t0 = Date.now();
  const lap = (what: string) => console.log(`[import timing] ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await page.goto('/');
  await expect(page.getByTestId('dataset-row')).toHaveCount(2, { timeout: 180_000 });
  await expect(page.getByTestId('dataset')).toHaveAttribute('data-busy', 'false', { timeout: 180_000 });
  await page.getByTestId('tab-train').click();
  await page.getByTestId('cfg-backend').selectOption('wasm');
  // The smallest VoCo step (B = 2, n = 2, sw = 1): the imported run takes the setup's values; n = 2 also pads the
  // scans only to 128×128×64, so the map tiles the abdomen CT in 2×2×2.
  await page.getByTestId('cfg-gridN').fill('2');
  await page.getByTestId('cfg-randomCrops').fill('1');
  await page.getByTestId('input-import-model').setInputFiles(resolve(VOCO_SWIN_FIXTURE, 'swin-fs12.safetensors'));
  await expect(page.getByTestId('import-report')).toHaveAttribute('data-usable', 'true');
  await expect(page.getByTestId('btn-import-use')).toBeEnabled();
  mkdirSync(SHOTS, { recursive: true });
  await page.getByTestId('model-import').screenshot({ path: resolve(SHOTS, 'import-report-usable.png') });
  await page.getByTestId('btn-import-use').click();
  const saved = page.getByTestId('saved-run').filter({ hasText: 'swin-tiny · swin-fs12.safetensors (imported)' });
  await expect(saved).toHaveCount(1, { timeout: 120_000 });
  await expect(saved).toHaveAttribute('data-step', '0');
  await expect(page.getByTestId('model-import')).toHaveCount(0);

  // The saved run exports in the authors' layout: the .pt holds the fixture's values bit for bit.
  const [download] = await Promise.all([page.waitForEvent('download'), saved.getByTestId('btn-export-pt').click()]);
  const bytes = new Uint8Array(readFileSync((await download.path())!));
  const fromUi = await inspectCheckpoint(bytesSource(bytes, download.suggestedFilename()));
  expect(fromUi.report.usable).toBe(true);
  const original = await inspectCheckpoint(bytesSource(new Uint8Array(readFileSync(resolve(VOCO_SWIN_FIXTURE, 'swin-fs12.safetensors'))), 'fixture'));
  const a = await readMappedWeights(fromUi.opened, fromUi.report);
  const b = await readMappedWeights(original.opened, original.report);
  expect(a.map((w) => w.name)).toEqual(b.map((w) => w.name));
  a.forEach((w, i) => expect(Buffer.from(w.data.buffer).equals(Buffer.from(b[i].data.buffer)), w.name).toBe(true));

  await saved.getByTestId('btn-open-imported').click();
  await expect(page.getByTestId('run-phase')).toHaveText('ready', { timeout: 300_000 });
  lap('imported and opened on the sample scans');
  // More pre-training from it: the step's memory estimate (10 crops of 64³ through the reference encoder) is over
  // what a wasm heap can address, so Start is refused with the numbers, visibly; maps and the benchmark stay open.
  await expect(page.getByTestId('train-blocked')).toContainText(/Cannot continue pre-training here: preset swin-tiny at r = 64 with 10 crops per step needs about \d+(\.\d)? GiB of wasm heap/);
  await expect(page.getByTestId('btn-start')).toBeDisabled();
  console.log(`[import] ${await page.getByTestId('train-blocked').textContent()}`);

  // ---- a similarity map with the imported weights, in tiles, its cost shown before it starts ----
  await page.getByTestId('tab-maps').click();
  const panel = page.getByTestId('maps-panel');
  await expect(page.getByTestId('maps-layout')).toHaveValue('tiles');
  await expect(page.getByTestId('maps-stride')).toBeDisabled();
  await page.getByTestId('maps-compare').selectOption('none');
  const cost = page.getByTestId('maps-cost');
  await expect(cost).toContainText('8 tiles + the query × 1 map = 9 crops');
  await expect(cost).toContainText('time: measured after the first batch');
  expect(Number(await cost.getAttribute('data-gflop'))).toBeCloseTo(9 * 7.1, 0); // 7.1 GFLOP per 64³ crop at feature size 12
  // The sliding layout at the default stride would cost far more: the panel says so before anything runs.
  await page.getByTestId('maps-layout').selectOption('sliding');
  expect(Number(await cost.getAttribute('data-windows'))).toBeGreaterThan(100);
  await page.getByTestId('maps-layout').selectOption('tiles');
  await expect(cost).toHaveAttribute('data-windows', '8');

  await page.getByTestId('layout-axial').click();
  const canvas = page.getByTestId('viewer-canvas');
  const box = (await canvas.boundingBox())!;
  await canvas.click({ position: { x: box.width * 0.45, y: box.height * 0.55 } });
  await expect(panel).toHaveAttribute('data-status', 'running', { timeout: 60_000 });
  await expect(page.getByTestId('maps-progress')).toContainText('elapsed', { timeout: 30_000 });
  await expect(panel).toHaveAttribute('data-status', 'done', { timeout: 300_000 });
  lap('map done');
  const facts = page.getByTestId('maps-facts');
  await expect(facts).toContainText('8 tiles of 64³ every 64 voxels × 1 weights');
  await expect(facts).toContainText('on wasm');
  const result = page.getByTestId('maps-result');
  const [lo, hi] = [Number(await result.getAttribute('data-min')), Number(await result.getAttribute('data-max'))];
  expect(Number.isFinite(lo) && Number.isFinite(hi)).toBe(true);
  expect(hi).toBeGreaterThan(lo); // not a constant map
  expect(hi).toBeLessThanOrEqual(1 + 1e-6);
  const state = await page.evaluate(() => (window as unknown as { __vocoMaps: { state(): { result: { windows: number; maps: { kind: string; windowValues: { min: number; max: number } }[] } } } }).__vocoMaps.state());
  expect(state.result.windows).toBe(8);
  expect(state.result.maps.map((m) => m.kind)).toEqual(['current']);
  const layers = await page.evaluate(() => (window as unknown as { __vocoMaps: { layers(): unknown[] } }).__vocoMaps.layers());
  expect(layers.length).toBeGreaterThan(0); // the overlay is on the viewer
  // After the map, the next one's time is estimated from the measured pace.
  await expect(cost).toContainText('s per crop measured by the last map');
  expect(Number(await cost.getAttribute('data-estimate-ms'))).toBeGreaterThan(0);
  console.log(`[import map] ${await facts.textContent()} · min ${lo.toFixed(4)} max ${hi.toFixed(4)} · ${await cost.textContent()}`);
  await page.screenshot({ path: resolve(SHOTS, 'import-map.png') });

  // ---- the benchmark: imported weights vs the random initialisation of the same preset ----
  await page.getByTestId('tab-benchmark').click();
  const bench = page.getByTestId('benchmark-panel');
  for (const t of ['position', 'organ-probe', 'few-shot-seg', 'retrieval']) {
    const box = bench.getByTestId(`bench-task-${t}`);
    if ((await box.isChecked()) !== (t === 'retrieval')) await box.click();
  }
  await expect(bench.getByTestId('bench-w-preset')).toHaveValue('swin-tiny');
  await expect(bench.getByTestId('bench-r')).toHaveValue('64');
  if (!(await bench.getByTestId('bench-w-initial').isChecked())) await bench.getByTestId('bench-w-initial').click();
  if (!(await bench.getByTestId('bench-w-current').isChecked())) await bench.getByTestId('bench-w-current').click();
  await bench.getByTestId('bench-backend').selectOption('wasm');
  await bench.getByTestId('bench-max-structures').fill('2');
  await bench.getByTestId('bench-crops').fill('2');
  await bench.getByTestId('bench-splits').fill('1'); // one crop sample: 64³ crops through the reference encoder are slow on wasm
  await bench.getByTestId('bench-k').fill('1'); // 4 crops per weights: each query has 2 candidates of the other structure and 1 of its own
  await bench.getByTestId('bench-run').click();
  await expect(bench.getByTestId('bench-phase')).toHaveAttribute('data-phase', 'done', { timeout: 300_000 });
  lap('benchmark done');
  await expect(bench.getByTestId('bench-error')).toHaveCount(0);
  await expect(bench.getByTestId('bench-row')).toHaveCount(2);
  const cells = await bench.getByTestId('bench-score').evaluateAll((tds) =>
    tds.map((td) => ({ task: td.getAttribute('data-task')!, metric: td.getAttribute('data-metric')!, weights: td.getAttribute('data-weights')!, value: Number(td.getAttribute('data-value')) })),
  );
  expect(cells).toHaveLength(2);
  for (const c of cells) {
    expect(c.task).toBe('retrieval');
    expect(Number.isFinite(c.value), `${c.weights} ${c.metric}`).toBe(true);
    expect(c.value).toBeGreaterThanOrEqual(0);
    expect(c.value).toBeLessThanOrEqual(1);
  }
  expect(new Set(cells.map((c) => c.weights)).size).toBe(2);
  await expect(bench.getByTestId('bench-table')).toContainText('swin-tiny · random init');
  await expect(bench.getByTestId('bench-table')).toContainText('swin-tiny · run step 0'); // the imported weights, the active run
  console.log('[import bench]', JSON.stringify(cells));
  const results = bench.getByTestId('bench-results');
  await results.scrollIntoViewIfNeeded();
  await results.screenshot({ path: resolve(SHOTS, 'import-benchmark.png') });
});
