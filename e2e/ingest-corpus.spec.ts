import { expect, test, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeIngestCorpus, type CorpusEntry } from '../scripts/make-ingest-corpus.mjs';
import { DEFAULT_RUN_CONFIG, regionSize } from '../src/store/runConfig';
import { openEmpty, pickFiles, pickFolder, rowNamed } from './helpers/ingest';

// The generated corpus of broken and unusual inputs (scripts/make-ingest-corpus.mjs), dropped as one folder into
// the built studio: every file must end as a row with a status and a message naming the problem, as a label map
// named in its scan's row, or as a counted entry of the visible "left out" list with its reason; and the run
// setup must tick only what may be trained on, showing why the others are not ticked.

const OUT = join(process.cwd(), 'artifacts/ingest-corpus/e2e');

async function expectRow(page: Page, m: CorpusEntry & { expect: { row: string } }) {
  const e = m.expect as Extract<CorpusEntry['expect'], { row: string }>;
  const row = rowNamed(page, e.row);
  await expect(row, `${m.file}: ${m.case}`).toHaveCount(1);
  await expect(row, `${m.file}: ${m.case}`).toHaveAttribute('data-status', e.status);
  if (e.message) await expect(row.getByTestId('row-message').filter({ hasText: e.message }), `${m.file}: ${m.case}`).toHaveCount(1);
  if (e.dims) await expect(row.getByTestId('row-dims')).toHaveText(e.dims);
  if (e.orientation) await expect(row.getByTestId('row-orientation')).toHaveText(e.orientation);
}

test('ingest corpus: every file ends as a row with its reason, a named label map, or a counted left-out entry', async ({ page }) => {
  const { root, manifest, loneNonImage } = makeIngestCorpus(OUT);
  await openEmpty(page);
  const ms = await pickFolder(page, root);
  console.log(`[timing] ingest corpus (${manifest.length} cases) loaded in ${ms} ms`);

  const rows = manifest.filter((m): m is CorpusEntry & { expect: { row: string } } => 'row' in m.expect);
  for (const m of rows) await expectRow(page, m);
  // No row that the manifest does not name.
  await expect(page.getByTestId('dataset-row')).toHaveCount(rows.length);

  // Label maps: named in their scan's row; the overlapping one kept apart, with a choice.
  for (const m of manifest) {
    const e = m.expect;
    if (!('labels' in e)) continue;
    const scan = rowNamed(page, e.onto);
    await expect(scan.getByTestId('label-set-pick').locator('option').filter({ hasText: e.labels }), m.case).toHaveCount(1);
    if (e.message) await expect(scan.getByTestId('row-message').filter({ hasText: e.message }), m.case).toHaveCount(1);
  }
  // Switching to the other label map changes what the scan uses.
  const scan = rowNamed(page, 'scan.nii.gz');
  await expect(scan.getByTestId('row-labels')).toContainText('aorta_mask.nii');
  await scan.getByTestId('label-set-pick').selectOption({ index: 1 });
  await expect(scan.getByTestId('row-labels')).toHaveText(/^2 ids · lumen_label\.nii$/);

  // Left out: counted, visible, each with its reason.
  const leftOut = manifest.flatMap((m) => ('leftOut' in m.expect ? [m.expect] : []));
  await expect(page.getByTestId('left-out-count')).toHaveText(`${leftOut.length} files left out`);
  await expect(page.getByTestId('ingest-left-out')).toHaveAttribute('open', '');
  for (const l of leftOut) await expect(page.locator(`[data-testid="left-out-item"][data-path="corpus/${l.leftOut}"]`)).toContainText(l.reason);

  mkdirShots();
  await page.screenshot({ path: 'artifacts/screenshots/ingest-corpus-dataset.png', fullPage: true });

  // The run setup: ticked or not, with the reason visible.
  await page.getByTestId('tab-train').click();
  for (const m of rows) {
    if (!m.training) continue;
    const pick = page.locator(`[data-testid="volume-pick-row"][data-name="${m.expect.row}"]`);
    await expect(pick, m.case).toHaveCount(1);
    if (m.training.ticked) {
      await expect(pick.getByTestId('volume-pick'), m.case).toBeChecked();
      await expect(pick.getByTestId('volume-exclude')).toHaveCount(0);
    } else {
      await expect(pick.getByTestId('volume-pick'), m.case).not.toBeChecked();
      await expect(pick.getByTestId('volume-exclude'), m.case).toContainText(m.training.reason!);
    }
  }
  // The small scan is padded (region mode) or resized like every scan (whole-volume mode), never refused; the
  // tilted scan's size is the preprocessing grid (RAS order).
  const region = regionSize(DEFAULT_RUN_CONFIG);
  const padded = (d: number[]) =>
    DEFAULT_RUN_CONFIG.dataMode === 'whole'
      ? `${d.join('×')} → resized to ${region.join('×')}`
      : `${d.join('×')} → padded to ${d.map((v, a) => Math.max(v, region[a])).join('×')}`;
  await expect(page.locator('[data-testid="volume-pick-row"][data-name="scan-small.nii.gz"] [data-testid="volume-size"]')).toHaveText(padded([20, 21, 27]));
  await expect(page.locator('[data-testid="volume-pick-row"][data-name="scan-tilted.nii"] [data-testid="volume-size"]')).toHaveText(padded([19, 27, 24]));
  await expect(page.getByTestId('config-issues').filter({ hasText: 'larger than volume' })).toHaveCount(0);
  await page.screenshot({ path: 'artifacts/screenshots/ingest-corpus-train.png', fullPage: true });

  // A non-DICOM file named .dcm dropped alone: a row of its own name.
  await pickFiles(page, [loneNonImage]);
  await expect(rowNamed(page, 'notes.dcm')).toHaveAttribute('data-status', 'error');
  await expect(rowNamed(page, 'notes.dcm').getByTestId('row-message')).toContainText('not a DICOM file');

  // The same folder dropped again: every volume is a duplicate, none is ticked twice.
  await page.getByTestId('tab-train').click();
  const ticked = await page.getByTestId('volume-pick').evaluateAll((els) => els.filter((e) => (e as HTMLInputElement).checked).length);
  await pickFolder(page, join(root, 'dicom-parent'));
  await expect(rowNamed(page, 'series-a')).toHaveCount(2);
  await expect(rowNamed(page, 'series-a').nth(1).getByTestId('row-message').filter({ hasText: 'duplicate of series-a' })).toHaveCount(1);
  await expect
    .poll(() => page.getByTestId('volume-pick').evaluateAll((els) => els.filter((e) => (e as HTMLInputElement).checked).length))
    .toBe(ticked);
});

test('voxel readout: an LPS scan reports the file voxel index, not the viewer’s RAS index', async ({ page }) => {
  const { root } = makeIngestCorpus(join(OUT, 'readout'));
  await openEmpty(page);
  await pickFiles(page, [join(root, 'scan-lps.nii')]);
  await expect(page.getByTestId('viewer')).toHaveAttribute('data-shown', 'scan-lps.nii');
  await page.getByTestId('layout-axial').click();
  // Click off-centre, so that the file index and the RAS index differ (they mirror each other in x and y).
  const box = (await page.locator('canvas').first().boundingBox())!;
  await page.mouse.click(box.x + box.width * 0.4, box.y + box.height * 0.35);
  const mm = (await page.getByTestId('readout-mm').getAttribute('data-mm'))!.split(',').map(Number);
  // The file's affine (scripts/make-ingest-corpus.mjs): x = 50 - 2i, y = 44 - 2j, z = -40 + 3k.
  const file = [(50 - mm[0]) / 2, (44 - mm[1]) / 2, (mm[2] + 40) / 3];
  const shown = (await page.getByTestId('readout-vox').textContent())!.replace('voxel ', '').split(', ').map(Number);
  console.log(`[readout] mm ${mm.map((v) => v.toFixed(2)).join(', ')} → file voxel ${file.map((v) => v.toFixed(2)).join(', ')}; shown ${shown.join(', ')}`);
  for (let a = 0; a < 3; a++) expect(Math.abs(shown[a] - file[a])).toBeLessThanOrEqual(0.5001);
  // The RAS index would be 49 - i in x: make sure the click landed where the two differ.
  expect(Math.abs(49 - file[0] - file[0])).toBeGreaterThan(2);
});

function mkdirShots() {
  mkdirSync('artifacts/screenshots', { recursive: true });
}

test('one source of truth: the Preprocess preset is the run’s spacing and HU window, and back', async ({ page }) => {
  await openEmpty(page);
  await page.getByTestId('tab-preprocess').click();
  await page.getByTestId('preprocess-preset').selectOption('chest');
  await page.getByTestId('tab-train').click();
  await expect(page.getByTestId('cfg-spacing-0')).toHaveValue('1.25');
  await expect(page.getByTestId('cfg-spacing-2')).toHaveValue('5');
  await expect(page.getByTestId('cfg-hu-0')).toHaveValue('-1000');
  await expect(page.getByTestId('cfg-hu-1')).toHaveValue('500');
  // Editing the run's window makes the Preprocess panel follow (a custom setting).
  await page.getByTestId('cfg-hu-1').fill('400');
  await page.getByTestId('tab-preprocess').click();
  await expect(page.getByTestId('preprocess-hu-hi')).toHaveValue('400');
  await expect(page.getByTestId('preprocess-preset')).toHaveValue('custom');
});
