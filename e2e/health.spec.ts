// The default recipe learns in the browser, and the Health panel shows it: the bundled samples (abdomen + chest CT),
// the run setup's defaults except the tiny preset and a short schedule, backend auto (wasm on a machine without a
// GPU). Asserts the loss and its position term trend down (mean of the last third below the first third's), and
// that the Health panel holds a diagnosis, ranks, calibration and its charts (the position-accuracy chart too). Screenshot: artifacts/screenshots/health-panel.png.
import { expect, test } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { rowNamed } from './helpers/ingest';

const SHOTS = resolve('artifacts/screenshots');
const STEPS = Number(process.env.HEALTH_E2E_STEPS ?? 90);

interface RunHook {
  column(name: string): number[];
  health(): { step: number; health: { studentRank: number; teacherRank: number; rankMax: number; window: number; diagnosis: { level: string; text: string }[]; calibration: { pairs: number } } } | null;
}

test('default recipe, tiny preset: the loss trends down and the Health panel fills', async ({ page }) => {
  test.setTimeout(110_000);
  mkdirSync(SHOTS, { recursive: true });
  page.on('pageerror', (e) => console.log('[pageerror]', e.message));
  await page.goto('/');
  await expect(rowNamed(page, 'sample-ct.nii.gz')).toHaveCount(1, { timeout: 60_000 });
  await expect(rowNamed(page, 'sample-chest-ct.nii.gz')).toHaveCount(1, { timeout: 60_000 });
  await expect(page.getByTestId('dataset')).toHaveAttribute('data-busy', 'false', { timeout: 60_000 });
  await page.getByTestId('tab-train').click();
  await expect(page.getByTestId('health-empty')).toBeVisible();
  await page.getByTestId('cfg-preset').selectOption('tiny');
  await page.getByTestId('cfg-totalSteps').fill(String(STEPS));
  // HEALTH_E2E_LR=1e-9 shows the checks below can fail (nothing learns).
  if (process.env.HEALTH_E2E_LR) await page.getByTestId('cfg-lr').fill(process.env.HEALTH_E2E_LR);
  await page.getByTestId('cfg-checkpointEvery').fill('0');
  await expect(page.getByTestId('config-issues')).toHaveCount(0);
  await page.getByTestId('btn-start').click();
  await expect(page.getByTestId('run-phase')).toHaveText('done', { timeout: 90_000 });

  const losses = await page.evaluate(() => (window as unknown as { __vocoRun: RunHook }).__vocoRun.column('loss'));
  expect(losses).toHaveLength(STEPS);
  const third = Math.floor(STEPS / 3);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(losses.slice(0, third));
  const last = mean(losses.slice(-third));
  // The position loss falls too (what moves most reliably at this scale, docs/recipe.md). The total loss alone
  // is no proof: with the learning rate at 1e-9 it also fell (1.61 → 1.40: batch-to-batch noise of the inter term
  // and the teacher head's EMA), while intra rose (0.74 → 0.80), so this check is the one that fails then.
  // Accuracy is logged, not asserted: in 90 tiny steps it stays near its start (an untrained encoder already
  // scores ≈ 0.19 on training crops, chance 0.11).
  const intra = await page.evaluate(() => (window as unknown as { __vocoRun: RunHook }).__vocoRun.column('intra'));
  const accuracy = await page.evaluate(() => (window as unknown as { __vocoRun: RunHook }).__vocoRun.column('accuracy'));
  const accLast = mean(accuracy.slice(-third));
  const chance = 1 / 9;
  console.log(
    `[health] ${STEPS} steps: mean loss of the first third ${first.toFixed(3)}, of the last third ${last.toFixed(3)}; ` +
      `intra ${mean(intra.slice(0, third)).toFixed(3)} → ${mean(intra.slice(-third)).toFixed(3)}; ` +
      `accuracy ${mean(accuracy.slice(0, third)).toFixed(3)} → ${accLast.toFixed(3)}, over the run ${mean(accuracy).toFixed(3)} (chance ${chance.toFixed(3)})`,
  );
  expect(last).toBeLessThan(first);
  expect(mean(intra.slice(-third))).toBeLessThan(mean(intra.slice(0, third)));
  await expect(page.getByTestId('plot-accuracy')).toHaveAttribute('data-points', String(STEPS));
  // The clean position probe rides on step 0, every 50th step and the last.
  const probe = await page.evaluate(() => (window as unknown as { __vocoRun: RunHook }).__vocoRun.column('probeAccuracy'));
  const probed = probe.map((v, i) => [i, v]).filter(([, v]) => Number.isFinite(v));
  console.log(`[health] clean-crop position accuracy: ${probed.map(([i, v]) => `step ${i} ${v.toFixed(3)}`).join(', ')}`);
  expect(probed.map(([i]) => i)).toEqual([...Array.from({ length: Math.ceil(STEPS / 50) }, (_, k) => k * 50), STEPS - 1]);

  const h = await page.evaluate(() => (window as unknown as { __vocoRun: RunHook }).__vocoRun.health());
  expect(h).not.toBeNull();
  expect(h!.step).toBeGreaterThanOrEqual(STEPS - 5);
  expect(h!.health.rankMax).toBeGreaterThan(1);
  expect(h!.health.studentRank).toBeGreaterThan(1);
  expect(h!.health.calibration.pairs).toBeGreaterThan(0);
  console.log(`[health] diagnosis at step ${h!.step}: ${h!.health.diagnosis.map((d) => `[${d.level}] ${d.text}`).join(' | ')}`);
  const panel = page.getByTestId('health-panel');
  await expect(panel.getByTestId('health-diagnosis').locator('li')).toHaveCount(h!.health.diagnosis.length);
  await expect(panel.getByTestId('health-rank')).toContainText(`of ${h!.health.rankMax}`);
  await expect(panel.getByTestId('health-calibration')).toContainText('pairs');
  // Health rides on every 5th step; the charts hold a point (or a gap) per step of the history.
  for (const id of ['plot-health-rank', 'plot-health-std', 'plot-health-agreement', 'plot-health-gradnorm']) {
    await expect(panel.getByTestId(id)).toHaveAttribute('data-points', String(STEPS));
  }
  const ranks = await page.evaluate(() => (window as unknown as { __vocoRun: RunHook }).__vocoRun.column('studentRank'));
  expect(ranks.filter(Number.isFinite).length).toBe(Math.ceil(STEPS / 5));
  await panel.scrollIntoViewIfNeeded();
  await panel.screenshot({ path: resolve(SHOTS, 'health-panel.png') });
  await page.getByTestId('live-plots').screenshot({ path: resolve(SHOTS, 'health-loss.png') });
});

test('Maps tab: structure AUCs (trained, untrained, raw intensity) beside the picture when the scan has labels', async ({ page }) => {
  test.setTimeout(110_000);
  const { structureClick } = await import('../src/eval/mapAuc');
  const { readNiftiNode } = await import('../test/helpers/niftiNode');
  const seg = readNiftiNode(resolve('test/data/ct-abdomen-totalseg/example_seg_fast_force_split.nii.gz'));
  const click = structureClick(seg.raw, seg.dims, 5)!; // liver
  const mm = [0, 1, 2].map((a) => seg.sform[a][0] * click[0] + seg.sform[a][1] * click[1] + seg.sform[a][2] * click[2] + seg.sform[a][3]);
  await page.goto('/');
  await expect(rowNamed(page, 'sample-ct.nii.gz')).toHaveCount(1, { timeout: 60_000 });
  await expect(page.getByTestId('dataset')).toHaveAttribute('data-busy', 'false', { timeout: 60_000 });
  await page.getByTestId('tab-train').click();
  await page.getByTestId('cfg-preset').selectOption('tiny');
  await page.getByTestId('cfg-totalSteps').fill('30');
  await page.getByTestId('cfg-checkpointEvery').fill('0');
  await page.getByTestId('btn-start').click();
  await expect(page.getByTestId('run-phase')).toHaveText('done', { timeout: 60_000 });
  await rowNamed(page, 'sample-ct.nii.gz').click();
  await page.getByTestId('tab-maps').click();
  await page.getByTestId('maps-stride').fill('16');
  const volumeId = await rowNamed(page, 'sample-ct.nii.gz').getAttribute('data-volume-id');
  expect(volumeId).toBeTruthy();
  await page.evaluate(([id, p]) => (window as unknown as { __vocoMaps: { mapAt(v: string, mm: number[]): Promise<void> } }).__vocoMaps.mapAt(id, p), [volumeId!, mm] as const);
  const auc = await page.evaluate(() => (window as unknown as { __vocoMaps: { auc(): { ok: boolean; structure?: number; perMap?: number[]; intensity?: number; reason?: string } | null } }).__vocoMaps.auc());
  console.log(`[maps-auc] liver click: ${JSON.stringify(auc)}`);
  expect(auc?.ok, auc?.reason).toBe(true);
  expect(auc!.structure).toBe(5);
  expect(auc!.perMap).toHaveLength(2);
  for (const v of [...auc!.perMap!, auc!.intensity!]) expect(v > 0.5 && v <= 1).toBe(true);
  const box = page.getByTestId('maps-auc');
  await expect(box.getByTestId('maps-auc-row')).toHaveCount(3);
  await expect(box.locator('[data-kind="intensity"]')).toContainText(auc!.intensity!.toFixed(3));
  await expect(box.locator('[data-kind="current"]')).toContainText(auc!.perMap![0].toFixed(3));
  await page.getByTestId('maps-result').screenshot({ path: resolve(SHOTS, 'maps-auc.png') });
});
