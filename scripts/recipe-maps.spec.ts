// The newcomer's run, measured and pictured (docs/recipe.md, *Pictures*): the built studio with the two bundled scans,
// Train → Start with every default (backend auto: wasm without a GPU), until the run is done; then the Maps tab on the
// labelled abdomen CT, one query deep inside each of a few TotalSegmentator structures, trained beside untrained
// (the tab's slice previews) with the tab's AUC numbers. The abdomen CT is one of the two training scans, so these
// maps show fit, not transfer. Prints the run's wall time, loss/intra/accuracy thirds, the health diagnosis and the
// AUCs; writes artifacts/screenshots/recipe-browser-*.png. RECIPE_MAPS_STEPS overrides the schedule length.
import { expect, test } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { rowNamed } from '../e2e/helpers/ingest';
import { structureClick } from '../src/eval/mapAuc';
import { readNiftiNode } from '../test/helpers/niftiNode';

const SHOTS = resolve('artifacts/screenshots');
const SEG = resolve('test/data/ct-abdomen-totalseg/example_seg_fast_force_split.nii.gz');
const STRUCTURES: [number, string][] = [
  [5, 'liver'],
  [52, 'aorta'],
  [31, 'vertebrae_L1'],
  [3, 'kidney_left'],
];

interface RunHook {
  column(name: string): number[];
  health(): { step: number; health: { diagnosis: { level: string; text: string }[] } } | null;
}

test('default recipe in the browser, then trained vs untrained maps of the abdomen CT', async ({ page }) => {
  mkdirSync(SHOTS, { recursive: true });
  page.on('pageerror', (e) => console.log('[pageerror]', e.message));
  await page.goto('/');
  await expect(rowNamed(page, 'sample-ct.nii.gz')).toHaveCount(1, { timeout: 120_000 });
  await expect(rowNamed(page, 'sample-chest-ct.nii.gz')).toHaveCount(1, { timeout: 120_000 });
  await expect(page.getByTestId('dataset')).toHaveAttribute('data-busy', 'false', { timeout: 120_000 });
  await page.getByTestId('tab-train').click();
  if (process.env.RECIPE_MAPS_STEPS) await page.getByTestId('cfg-totalSteps').fill(process.env.RECIPE_MAPS_STEPS);
  await expect(page.getByTestId('config-issues')).toHaveCount(0);
  const steps = Number(await page.getByTestId('cfg-totalSteps').inputValue());
  const load0 = loadavg();
  const t0 = Date.now();
  await page.getByTestId('btn-start').click();
  await expect(page.getByTestId('run-phase')).toHaveText('done', { timeout: 3000_000 });
  const wall = (Date.now() - t0) / 1000;
  const hook = (name: string) => page.evaluate((n) => (window as unknown as { __vocoRun: RunHook }).__vocoRun.column(n), name);
  const [loss, intra, accuracy, stepMs] = [await hook('loss'), await hook('intra'), await hook('accuracy'), await hook('stepMs')];
  expect(loss).toHaveLength(steps);
  const third = Math.floor(steps / 3);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const thirds = (xs: number[]) => `${mean(xs.slice(0, third)).toFixed(3)} → ${mean(xs.slice(-third)).toFixed(3)}`;
  console.log(`[recipe-maps] ${steps} steps in ${wall.toFixed(0)} s from Start (${(steps / wall).toFixed(2)} steps/s; mean step ${mean(stepMs).toFixed(0)} ms); load ${load0.map((x) => x.toFixed(1)).join(' ')} → ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`[recipe-maps] first → last third: loss ${thirds(loss)}, intra ${thirds(intra)}, accuracy ${thirds(accuracy)}`);
  const h = await page.evaluate(() => (window as unknown as { __vocoRun: RunHook }).__vocoRun.health());
  console.log(`[recipe-maps] health at step ${h?.step}: ${h?.health.diagnosis.map((d) => `[${d.level}] ${d.text}`).join(' | ')}`);
  await page.setViewportSize({ width: 1400, height: 2600 }); // the panels whole, below the sticky tab bar
  await page.getByTestId('live-plots').screenshot({ path: resolve(SHOTS, 'recipe-browser-curves.png') });
  await page.getByTestId('health-panel').screenshot({ path: resolve(SHOTS, 'recipe-browser-health.png') });
  await page.setViewportSize({ width: 1400, height: 900 });

  const seg = readNiftiNode(SEG);
  await rowNamed(page, 'sample-ct.nii.gz').click();
  await page.getByTestId('tab-maps').click();
  await page.getByTestId('maps-stride').fill('8');
  await page.getByTestId('maps-compare').selectOption('initial');
  const volumeId = (await rowNamed(page, 'sample-ct.nii.gz').getAttribute('data-volume-id'))!;
  for (const [id, name] of STRUCTURES) {
    const click = structureClick(seg.raw, seg.dims, id)!;
    const mm = [0, 1, 2].map((a) => seg.sform[a][0] * click[0] + seg.sform[a][1] * click[1] + seg.sform[a][2] * click[2] + seg.sform[a][3]);
    await page.evaluate(([v, p]) => (window as unknown as { __vocoMaps: { mapAt(v: string, mm: number[]): Promise<void> } }).__vocoMaps.mapAt(v, p), [volumeId, mm] as const);
    const auc = await page.evaluate(() => (window as unknown as { __vocoMaps: { auc(): { ok: boolean; structure?: number; perMap?: number[]; intensity?: number; reason?: string } | null } }).__vocoMaps.auc());
    console.log(`[recipe-maps] ${name}: AUC trained ${auc?.perMap?.[0]?.toFixed(3)}, untrained ${auc?.perMap?.[1]?.toFixed(3)}, intensity ${auc?.intensity?.toFixed(3)} (${auc?.ok ? 'ok' : auc?.reason})`);
    expect(auc?.ok, auc?.reason).toBe(true);
    expect(auc!.structure).toBe(id);
    // Two pictures: the previews share the shown map's display range (auto: its 90th percentile → max), so each map
    // is pictured once in its own range — trained shown, then untrained shown.
    const result = page.getByTestId('maps-result');
    await page.getByTestId('maps-show-current').click();
    await page.getByTestId('maps-previews').scrollIntoViewIfNeeded();
    await result.screenshot({ path: resolve(SHOTS, `recipe-browser-maps-${name}.png`) });
    await page.getByTestId('maps-show-initial').click();
    await expect(result).toHaveAttribute('data-shown-kind', 'initial');
    await result.screenshot({ path: resolve(SHOTS, `recipe-browser-maps-${name}-untrained-range.png`) });
  }
});
