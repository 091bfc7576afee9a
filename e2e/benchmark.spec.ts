import { expect, test, type Page } from '@playwright/test';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATA, openEmpty, pickFiles, rowNamed } from './helpers/ingest';

// The downstream benchmark in the built app: the abdomen CT with its TotalSegmentator label map (names from
// label_names_total_v2.json) is scored; the chest CT is the pre-training scan. A one-preset sweep ('tiny', r = 16,
// wasm) scores the random initialisation (step 0) and the weights after a few pre-training steps on all four tasks.
// Every score must be a finite number in its range, in the table and in the charts. Timings are logged.

const PRETRAIN_STEPS = 8;

const RANGES: Record<string, [number, number]> = {
  'position.accuracy': [0, 1],
  'position.mae': [0, 1],
  'organ-probe.macroF1': [0, 1],
  'organ-probe.accuracy': [0, 1],
  'few-shot-seg.meanDice': [0, 1],
  'retrieval.precisionAtK': [0, 1],
};

async function setChecked(page: Page, testId: string, on: boolean, scope = page.locator('body')) {
  const box = scope.getByTestId(testId);
  if ((await box.isChecked()) !== on) await box.click();
}

test('benchmark: four tasks for random and briefly pre-trained tiny weights, table, charts, export', async ({ page }) => {
  test.setTimeout(170_000);
  const t0 = Date.now();
  await openEmpty(page);
  await pickFiles(page, [
    join(DATA, 'ct-abdomen-totalseg/example_ct.nii.gz'),
    join(DATA, 'ct-abdomen-totalseg/example_seg_fast_force_split.nii.gz'),
    join(DATA, 'ct-chest-elastix/chest_ct_derived_4x.nii.gz'),
  ]);
  // The label map found its scan (same grid) and is no row of its own.
  await expect(rowNamed(page, 'example_ct.nii.gz').getByTestId('row-labels')).toContainText('61 ids');
  await expect(page.getByTestId('dataset-row')).toHaveCount(2);

  await page.getByTestId('tab-benchmark').click();
  const panel = page.getByTestId('benchmark-panel');
  await expect(panel).toBeVisible();

  // Structure names from TotalSegmentator's JSON list.
  await panel.getByTestId('bench-names-input').setInputFiles(join(DATA, 'ct-abdomen-totalseg/label_names_total_v2.json'));
  await expect(panel.getByTestId('bench-names-source')).toContainText('label_names_total_v2.json');

  // A map on another grid is refused with both geometries (pairing by hand).
  // Roles: score on the abdomen, pre-train on the chest.
  const abdomen = panel.getByTestId('bench-scan-row').filter({ hasText: 'example_ct.nii.gz' });
  const chest = panel.getByTestId('bench-scan-row').filter({ hasText: 'chest_ct_derived_4x.nii.gz' });
  await expect(abdomen).toContainText('61 ids');
  await setChecked(page, 'bench-role-score', true, abdomen);
  await setChecked(page, 'bench-role-pretrain', false, abdomen);
  await setChecked(page, 'bench-role-score', false, chest);
  await setChecked(page, 'bench-role-pretrain', true, chest);
  await panel.getByTestId('bench-pair-label').selectOption({ label: 'chest_ct_derived_4x.nii.gz' });
  await panel.getByTestId('bench-pair-scan').selectOption({ label: 'example_ct.nii.gz' });
  await panel.getByTestId('bench-pair').click();
  const refusal = panel.getByTestId('bench-pair-message');
  await expect(refusal).toContainText('does not lie on the grid');
  await expect(refusal).toContainText('122×101×112 voxels');
  await expect(refusal).toContainText('128×128×141 voxels');

  // Weights: the sweep's step 0 IS the random initialisation, so the separate one is off.
  await setChecked(page, 'bench-w-initial', false);
  await setChecked(page, 'bench-sweep', true);
  for (const p of ['S', 'B', 'L', 'H']) if (await panel.getByTestId(`bench-sweep-preset-${p}`).count()) await setChecked(page, `bench-sweep-preset-${p}`, false);
  await setChecked(page, 'bench-sweep-preset-tiny', true);
  await panel.getByTestId('bench-sweep-steps').fill(`0, ${PRETRAIN_STEPS}`);
  await panel.getByTestId('bench-sweep-lr').fill('0.001'); // a few steps at the studio's 1e-4 barely move the weights
  await panel.getByTestId('bench-r').selectOption('16');
  await panel.getByTestId('bench-backend').selectOption('wasm');
  await panel.getByTestId('bench-crops').fill('10');
  await panel.getByTestId('bench-splits').fill('2'); // two repeated splits: the paired table (the studio's default is 5)
  await panel.getByTestId('bench-shots').fill('6');
  await panel.getByTestId('bench-seg-iterations').fill('80');
  for (const t of ['position', 'organ-probe', 'few-shot-seg', 'retrieval']) await setChecked(page, `bench-task-${t}`, true);

  const tRun = Date.now();
  await panel.getByTestId('bench-run').click();
  // Scores stream in: the first one is in the table before the run ends.
  await expect(panel.getByTestId('bench-score').first()).toBeVisible({ timeout: 90_000 });
  await expect(panel.getByTestId('bench-phase')).toHaveAttribute('data-phase', 'done', { timeout: 120_000 });
  console.log(`[timing] benchmark run (tiny, r=16, wasm, ${PRETRAIN_STEPS} pre-training steps, 2 weights × 4 tasks): ${((Date.now() - tRun) / 1000).toFixed(1)} s`);
  await expect(panel.getByTestId('bench-error')).toHaveCount(0);
  await expect(panel.getByTestId('bench-skipped')).toHaveCount(0);

  // Table: two weights sets × six metrics, every one a finite number in its range.
  await expect(panel.getByTestId('bench-row')).toHaveCount(2);
  const cells = await panel.getByTestId('bench-score').evaluateAll((tds) =>
    tds.map((td) => ({ task: td.getAttribute('data-task')!, metric: td.getAttribute('data-metric')!, weights: td.getAttribute('data-weights')!, value: Number(td.getAttribute('data-value')), text: td.textContent })),
  );
  expect(cells).toHaveLength(12);
  for (const c of cells) {
    const [lo, hi] = RANGES[`${c.task}.${c.metric}`];
    expect(Number.isFinite(c.value), `${c.weights} ${c.task} ${c.metric} = ${c.text}`).toBe(true);
    expect(c.value).toBeGreaterThanOrEqual(lo);
    expect(c.value).toBeLessThanOrEqual(hi);
    expect(c.text).toBe(c.value.toFixed(3));
  }
  for (const w of ['sweep:tiny:0', `sweep:tiny:${PRETRAIN_STEPS}`]) expect(cells.filter((c) => c.weights === w)).toHaveLength(6);
  console.log('[scores]', JSON.stringify(cells.map((c) => `${c.weights} ${c.task}.${c.metric}=${c.value.toFixed(4)}`)));
  await expect(panel).toContainText('liver'); // names from the JSON list reach the report

  // Honest captions, as visible text beside the scores: the label tasks split one labelled scan (optimistic);
  // the scored abdomen was not pre-trained on (the sweep trained on the chest), so no "fit, not transfer".
  const oneLabelled = panel.locator('[data-testid=bench-caption][data-kind=one-labelled]');
  await expect(oneLabelled).toBeVisible();
  await expect(oneLabelled).toContainText('one labelled scan: optimistic');
  await expect(oneLabelled).toContainText('example_ct.nii.gz');
  await expect(oneLabelled).toContainText('no test crop shares a voxel with a training crop');
  await expect(panel.locator('[data-testid=bench-caption][data-kind=fit]')).toHaveCount(0);

  // Paired comparison over the same 2 splits: the pre-trained weights vs the sweep's step 0, every label metric,
  // with the unpaired spread and the paired gain's standard error as visible numbers.
  const paired = panel.getByTestId('bench-paired');
  await expect(paired).toBeVisible();
  await expect(paired).toContainText('paired over the same 2 splits');
  const pairedRows = await panel.getByTestId('bench-paired-row').evaluateAll((trs) =>
    trs.map((tr) => ({ task: tr.getAttribute('data-task'), metric: tr.getAttribute('data-metric'), weights: tr.getAttribute('data-weights'), gain: Number(tr.getAttribute('data-gain')), spread: Number(tr.getAttribute('data-spread')), se: Number(tr.getAttribute('data-se')), n: Number(tr.getAttribute('data-n')) })),
  );
  expect(pairedRows.map((r) => `${r.task}.${r.metric}`)).toEqual(['organ-probe.macroF1', 'organ-probe.accuracy', 'few-shot-seg.meanDice', 'retrieval.precisionAtK']);
  for (const r of pairedRows) {
    expect(r.weights).toBe(`sweep:tiny:${PRETRAIN_STEPS}`);
    expect(r.n).toBe(2);
    for (const v of [r.gain, r.spread, r.se]) expect(Number.isFinite(v), JSON.stringify(r)).toBe(true);
  }
  console.log('[paired]', JSON.stringify(pairedRows));

  // Charts: a learning curve per task with points for both weights sets, and the score-vs-steps view.
  for (const t of ['position', 'organ-probe', 'few-shot-seg', 'retrieval']) {
    const chart = panel.getByTestId(`bench-curve-${t}`);
    await expect(chart).toBeVisible();
    expect(Number(await chart.getAttribute('data-points')), `${t} curve points`).toBeGreaterThanOrEqual(2);
    await expect(chart.locator('canvas')).toHaveCount(1);
    await expect(chart.locator('.u-legend')).toContainText('tiny · random init');
    await expect(chart.locator('.u-legend')).toContainText(`tiny · ${PRETRAIN_STEPS} steps`);
    const steps = panel.getByTestId(`bench-scale-steps-${t}`);
    await expect(steps).toBeVisible();
    expect(Number(await steps.getAttribute('data-points'))).toBe(2);
  }

  // Export: the JSON carries the configuration and the same scores.
  const [download] = await Promise.all([page.waitForEvent('download'), panel.getByTestId('bench-export-json').click()]);
  const exported = JSON.parse(readFileSync((await download.path())!, 'utf8'));
  expect(exported.format).toBe('voco-studio-benchmark');
  expect(exported.config.options.cropSize).toBe(16);
  expect(exported.config.sweep.presets).toEqual(['tiny']);
  expect(exported.config.evalVolumes.map((v: { name: string }) => v.name)).toEqual(['example_ct.nii.gz']);
  expect(exported.scores).toHaveLength(12);
  const [csv] = await Promise.all([page.waitForEvent('download'), panel.getByTestId('bench-export-csv').click()]);
  const csvText = readFileSync((await csv.path())!, 'utf8');
  expect(csvText.trim().split('\n')).toHaveLength(13);

  // Screenshot of the whole Benchmark column: a viewport tall enough that nothing of the panel scrolls.
  mkdirSync('artifacts/screenshots', { recursive: true });
  const height = await panel.evaluate((el) => el.scrollHeight);
  await page.setViewportSize({ width: 1400, height: Math.min(4000, height + 120) });
  await page.locator('section.right').screenshot({ path: 'artifacts/screenshots/benchmark.png' });
  console.log(`[timing] whole benchmark test: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});
