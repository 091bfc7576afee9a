import { expect, test, type Page } from '@playwright/test';
import { strToU8, unzipSync, zipSync } from 'fflate';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DATA, openEmpty, pickFiles } from './helpers/ingest';

// Run comparison in the built app: two short tiny-preset runs on the two bundled CTs that differ only in the
// learning rate are trained and saved, then overlaid in the Compare tab: two legend entries, lr highlighted as
// the differing setting, the long CSV export holding both runs' curves (checked against each other: same
// schedule, lr ratio 10/3), PNG and SVG exports; a metrics CSV with a source column (a run that moved to a
// cluster) gets its marker. Then the Benchmark tab scores the current run on its own training scans and must
// say so in visible text. A screenshot of the comparison lands in artifacts/screenshots/compare.png.

const SCANS = [join(DATA, 'ct-abdomen-totalseg/example_ct.nii.gz'), join(DATA, 'ct-chest-elastix/chest_ct_derived_4x.nii.gz')];
const STEPS = 3;
const LRS = ['1e-3', '3e-4'];

async function trainRun(page: Page, lr: string): Promise<void> {
  await page.getByTestId('cfg-lr').fill(lr);
  await expect(page.getByTestId('config-issues')).toHaveCount(0);
  await page.getByTestId('btn-start').click();
  await expect(page.getByTestId('run-phase')).toHaveText('done', { timeout: 90_000 });
  await expect(page.getByTestId('run-checkpoint')).toHaveText(`saved at step ${STEPS}`, { timeout: 30_000 });
}

test('compare two saved runs: legend, highlighted difference, CSV/PNG/SVG export, markers; honest benchmark caption', async ({ page }, testInfo) => {
  test.setTimeout(180_000);
  const t0 = Date.now();
  const shots = resolve('artifacts/screenshots');
  mkdirSync(shots, { recursive: true });
  await openEmpty(page);
  await pickFiles(page, SCANS);
  await expect(page.getByTestId('dataset-row')).toHaveCount(2);
  await page.getByTestId('tab-train').click();

  // Both runs: tiny preset, r = 16, wasm, 3 steps, checkpoint at the end; they differ in lr only.
  await page.getByTestId('cfg-preset').selectOption('tiny');
  await page.getByTestId('cfg-cropSize').fill('16');
  await page.getByTestId('cfg-totalSteps').fill(String(STEPS));
  await page.getByTestId('cfg-warmupSteps').fill('1');
  await page.getByTestId('cfg-checkpointEvery').fill(String(STEPS));
  await page.getByTestId('cfg-backend').selectOption('wasm');
  await trainRun(page, LRS[0]);
  await page.getByTestId('btn-new-run').click();
  await expect(page.getByTestId('run-phase')).toHaveText('idle');
  console.log(`[timing] first run trained and saved after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // Starting a run folds the setup away: open it again (the draft kept every setting).
  if (!(await page.getByTestId('cfg-lr').isVisible())) await page.getByTestId('toggle-setup').click();
  await expect(page.getByTestId('cfg-preset')).toHaveValue('tiny');
  await trainRun(page, LRS[1]);
  await expect(page.getByTestId('saved-run')).toHaveCount(2);
  const tTrained = Date.now();

  // The current run as a .voco file, given a marker in its manifest as the Python package writes one after a
  // cluster stretch (meta.markers): the comparison reads such files directly.
  const [runDl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('btn-export-run').click()]);
  const runPath = testInfo.outputPath('run.voco');
  await runDl.saveAs(runPath);
  const zip = unzipSync(new Uint8Array(readFileSync(runPath)));
  const manifest = JSON.parse(Buffer.from(zip['voco-run.json']).toString());
  manifest.meta.markers = [{ step: 1, label: 'cluster' }];
  manifest.meta.name = 'moved run';
  const movedPath = testInfo.outputPath('moved.voco');
  writeFileSync(movedPath, zipSync({ ...zip, 'voco-run.json': strToU8(JSON.stringify(manifest)) }));

  // ---- the comparison: the current run (lr 3e-4) and the saved first run (lr 1e-3) ----
  await page.getByTestId('tab-compare').click();
  const panel = page.getByTestId('compare-panel');
  const picks = panel.getByTestId('compare-pick');
  await expect(picks).toHaveCount(2); // the current run, and the other saved run (the current one's saved copy is not listed twice)
  for (const p of await picks.all()) await p.check();
  const legend = panel.getByTestId('compare-legend-entry');
  await expect(legend).toHaveCount(2);
  await expect(legend.nth(0)).toContainText('(current)');
  await expect(legend.nth(0)).toContainText('lr 3e-4');
  await expect(legend.nth(1)).toContainText('lr 1e-3');

  // One chart per metric series, each with both runs' points.
  for (const m of ['loss', 'intra', 'inter', 'reg', 'accuracy', 'mae', 'lr', 'stepMs']) {
    const chart = panel.locator(`[data-testid=compare-chart][data-metric=${m}]`);
    await expect(chart).toHaveAttribute('data-points', String(STEPS));
    await expect(chart.locator('canvas')).toHaveCount(1);
  }

  // Settings table: lr (only) differs and is highlighted; the shared ones are not.
  const col = (key: string) => panel.locator(`[data-testid=compare-col][data-key="${key}"]`);
  await expect(col('lr')).toHaveAttribute('data-differs', 'true');
  await expect(col('lr')).toHaveClass(/differs/);
  for (const k of ['seed', 'preset', 'cropSize', 'volumes']) await expect(col(k)).toHaveAttribute('data-differs', 'false');
  const differing = await panel.locator('[data-testid=compare-col][data-differs=true]').evaluateAll((els) => els.map((e) => e.getAttribute('data-key')));
  expect(differing).toEqual(['lr']);
  const lrCells = panel.locator('[data-testid=compare-row] td.differs[data-key=lr]');
  await expect(lrCells).toHaveText(['3e-4', '1e-3']);
  // Sorting by lr puts the 1e-3 run last when descending… and first when ascending, by value not by text.
  await col('lr').click();
  await expect(lrCells).toHaveText(['3e-4', '1e-3']);
  await col('lr').click();
  await expect(lrCells).toHaveText(['1e-3', '3e-4']);

  // ---- exports ----
  const save = async (testId: string, name: string) => {
    const [dl] = await Promise.all([page.waitForEvent('download'), panel.getByTestId(testId).click()]);
    const path = testInfo.outputPath(name);
    await dl.saveAs(path);
    return { name: dl.suggestedFilename(), bytes: readFileSync(path) };
  };
  const csv = await save('compare-export-csv', 'comparison.csv');
  expect(csv.name).toMatch(/^voco-comparison-.*\.csv$/);
  const rows = csv.bytes.toString('utf8').trim().split('\n');
  expect(rows[0]).toBe('run,step,metric,value');
  const parsed = rows.slice(1).map((line) => {
    const m = /^(".*"|[^,]*),([^,]*),([^,]*),([^,]*)$/.exec(line)!;
    return { run: m[1].replace(/^"|"$/g, '').replace(/""/g, '"'), step: Number(m[2]), metric: m[3], value: Number(m[4]) };
  });
  const runNames = [...new Set(parsed.map((r) => r.run))];
  expect(runNames).toHaveLength(2);
  expect(runNames[0]).toContain('(current)');
  const metricsOf = (run: string) => [...new Set(parsed.filter((r) => r.run === run).map((r) => r.metric))];
  for (const r of runNames) {
    expect(metricsOf(r)).toEqual(expect.arrayContaining(['loss', 'intra', 'inter', 'reg', 'lr', 'stepMs', 'accuracy', 'mae']));
    const loss = parsed.filter((x) => x.run === r && x.metric === 'loss');
    expect(loss.map((x) => x.step)).toEqual([0, 1, 2]);
    for (const x of loss) expect(Number.isFinite(x.value) && x.value > 0).toBe(true);
  }
  // Long format: one row per (run, step, metric), nothing else.
  expect(parsed).toHaveLength(runNames.reduce((n, r) => n + metricsOf(r).length * STEPS, 0));
  // Same schedule, peak lr 3e-4 vs 1e-3: the lr columns differ by exactly that ratio at every step.
  const lrOf = (run: string) => parsed.filter((x) => x.run === run && x.metric === 'lr').map((x) => x.value);
  const [lrCurrent, lrSaved] = runNames.map(lrOf);
  expect(Math.max(...lrSaved)).toBeLessThanOrEqual(1e-3 * (1 + 1e-6));
  lrCurrent.forEach((v, i) => (lrSaved[i] > 0 ? expect(v / lrSaved[i]).toBeCloseTo(0.3, 6) : expect(v).toBe(0)));
  // The loss values are the runs' own: the table's final loss matches the CSV's last loss of each run.
  const finalLoss = await panel.locator('[data-testid=compare-row][data-run=current] td[data-key="final:loss"]').textContent();
  const lastLoss = parsed.filter((x) => x.run === runNames[0] && x.metric === 'loss').at(-1)!.value;
  expect(Number(finalLoss)).toBeCloseTo(lastLoss, 3);

  const json = JSON.parse((await save('compare-export-json', 'comparison.json')).bytes.toString('utf8'));
  expect(json.format).toBe('voco-studio-comparison');
  expect(json.runs.map((r: { config: { lr: number } }) => r.config.lr).sort()).toEqual([3e-4, 1e-3]);
  expect(json.runs[0].metrics.loss).toHaveLength(STEPS);

  const png = await save('compare-export-png', 'comparison.png');
  expect(png.bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  const pngW = png.bytes.readUInt32BE(16);
  const pngH = png.bytes.readUInt32BE(20);
  // The charts (eight or more) in the page's grid (two columns in the wide Compare column) under the legend.
  expect(pngW).toBeGreaterThan(700);
  expect(pngH).toBeGreaterThan(4 * 170);
  const svg = (await save('compare-export-svg', 'comparison.svg')).bytes.toString('utf8');
  expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  expect(svg.match(/class="legend-entry"/g)).toHaveLength(2);
  // One SVG chart per chart on the page (8 core series, plus any other series the runs have, e.g. health).
  const charts = await panel.getByTestId('compare-chart').count();
  expect(charts).toBeGreaterThanOrEqual(8);
  expect(svg.match(/<g class="chart"/g)).toHaveLength(charts);

  // ---- a run continued elsewhere: a metrics CSV with a source column gets a marker where it moved ----
  const clusterCsv = testInfo.outputPath('cluster-run.csv');
  writeFileSync(clusterCsv, ['step,loss,lr,source', '0,1.2,1e-4,studio', '1,1.1,1e-4,studio', '2,1.0,1e-4,torchrun', '3,0.8,1e-4,torchrun', ''].join('\n'));
  await panel.getByTestId('compare-file-input').setInputFiles(clusterCsv);
  await expect(panel.getByTestId('compare-message')).toContainText('Added 1 run');
  await expect(legend).toHaveCount(3);
  await expect(legend.nth(2)).toContainText('cluster-run');
  await expect(legend.nth(2)).toContainText('metrics only');
  await expect(legend.nth(2)).toContainText('moved at 2 (torchrun)');
  await expect(col('lr')).toHaveAttribute('data-differs', 'true');
  await panel.getByTestId('compare-file-input').setInputFiles(movedPath);
  await expect(legend).toHaveCount(4);
  await expect(legend.nth(3)).toContainText('moved run (moved.voco)');
  await expect(legend.nth(3)).toContainText('moved at 1 (cluster)');
  await expect(panel.locator('[data-testid=compare-row][data-run^="file:"]')).toHaveCount(2);
  // A bad file is named and the comparison keeps its runs.
  const bad = testInfo.outputPath('broken.csv');
  writeFileSync(bad, 'step,loss\n0,oops\n');
  await panel.getByTestId('compare-file-input').setInputFiles(bad);
  await expect(panel.getByTestId('compare-message')).toContainText('broken.csv: row 2, column loss = "oops" is not a number');
  await expect(legend).toHaveCount(4);

  // Screenshot of the whole Compare column (tall enough that nothing scrolls).
  const height = await panel.evaluate((el) => el.scrollHeight);
  await page.setViewportSize({ width: 1400, height: Math.min(3000, height + 80) });
  await page.waitForTimeout(300); // charts follow the new size
  await page.locator('section.right').screenshot({ path: join(shots, 'compare.png') });
  await page.setViewportSize({ width: 1400, height: 900 });

  // ---- the benchmark says when it scores the run on its own training scans ----
  await page.getByTestId('tab-benchmark').click();
  const bench = page.getByTestId('benchmark-panel');
  for (const t of ['organ-probe', 'few-shot-seg', 'retrieval']) {
    const box = bench.getByTestId(`bench-task-${t}`);
    if (await box.isChecked()) await box.uncheck();
  }
  await bench.getByTestId('bench-task-position').check();
  await bench.getByTestId('bench-w-initial').uncheck();
  await bench.getByTestId('bench-w-current').check();
  await bench.getByTestId('bench-r').selectOption('16');
  await bench.getByTestId('bench-backend').selectOption('wasm');
  await bench.getByTestId('bench-run').click();
  await expect(bench.getByTestId('bench-phase')).toHaveAttribute('data-phase', 'done', { timeout: 90_000 });
  await expect(bench.getByTestId('bench-score').first()).toBeVisible();
  const fit = bench.locator('[data-testid=bench-caption][data-kind=fit]');
  await expect(fit).toBeVisible();
  await expect(fit).toContainText('scored scans were used for pre-training: this measures fit, not transfer');
  await expect(fit).toContainText('example_ct.nii.gz');
  // Position prediction needs no labels: no "one labelled scan" caption.
  await expect(bench.locator('[data-testid=bench-caption][data-kind=one-labelled]')).toHaveCount(0);
  console.log(`[timing] compare test: training ${((tTrained - t0) / 1000).toFixed(1)} s, whole test ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
