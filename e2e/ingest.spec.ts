import { expect, test } from '@playwright/test';
import { cpSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { niftiBytes } from '../src/ingest/niftiWrite';
import { afterBatch, DATA, openEmpty, pickFiles, pickFolder, rowNamed } from './helpers/ingest';

// Loading every kind of test scan through the dataset panel, in the built app, and reading back
// what the panel shows. Load times are logged (headless Chromium on this machine).

test.beforeEach(async ({ page }) => openEmpty(page));

test('abdomen NIfTI: 122×101×112 at 3 mm, RAS, HU, shown in the viewer', async ({ page }) => {
  const ms = await pickFiles(page, [join(DATA, 'ct-abdomen-totalseg/example_ct.nii.gz')]);
  console.log(`[timing] abdomen NIfTI (example_ct.nii.gz, 2.2 MB gz → 122×101×112) loaded in ${ms} ms`);
  const row = rowNamed(page, 'example_ct.nii.gz');
  await expect(row).toHaveAttribute('data-status', 'ok');
  await expect(row.getByTestId('row-dims')).toHaveText('122 × 101 × 112');
  await expect(row.getByTestId('row-spacing')).toHaveText('3 × 3 × 3 mm');
  await expect(row.getByTestId('row-orientation')).toHaveText('RAS');
  await expect(row.getByTestId('row-range')).toHaveText('-1207 … 3382');
  await expect(row.getByTestId('row-ct')).toHaveText('HU-like');
  // The new scan is selected and drawn.
  await expect(row).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByTestId('viewer')).toHaveAttribute('data-shown', 'example_ct.nii.gz');
});

test('dropping files (a synthetic drop event) loads them like the picker', async ({ page }) => {
  const scan = readFileSync(join(DATA, 'ct-abdomen-totalseg/example_ct_sm.nii.gz')).toString('base64');
  await afterBatch(page, () =>
    page.evaluate((b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'example_ct_sm.nii.gz'));
      dt.items.add(new File(['just text'], 'readme.txt'));
      const target = document.querySelector('[data-testid="drop-zone"]')!;
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, scan),
  );
  await expect(rowNamed(page, 'example_ct_sm.nii.gz').getByTestId('row-dims')).toHaveText('122 × 101 × 30');
  await expect(rowNamed(page, 'readme.txt')).toHaveAttribute('data-status', 'error');
  await expect(page.getByTestId('drop-overlay')).toHaveCount(0);
});

test('abdomen folder: both scans, each with its own TotalSegmentator label map; LICENSE and .json left out', async ({ page }) => {
  await pickFolder(page, join(DATA, 'ct-abdomen-totalseg'));
  await expect(page.getByTestId('dataset-row')).toHaveCount(2);
  const full = rowNamed(page, 'example_ct.nii.gz');
  const small = rowNamed(page, 'example_ct_sm.nii.gz');
  await expect(full.getByTestId('row-dims')).toHaveText('122 × 101 × 112');
  await expect(small.getByTestId('row-dims')).toHaveText('122 × 101 × 30');
  await expect(full.getByTestId('row-labels')).toContainText('example_seg_fast_force_split.nii.gz');
  await expect(small.getByTestId('row-labels')).toContainText('example_seg.nii.gz');
  await expect(small.getByTestId('row-labels')).toContainText('41 ids');
  await expect(page.getByTestId('left-out-count')).toHaveText('2 files left out');
});

test('chest NIfTI: 128×128×141 at 3.906×3.906×2 mm, LPS', async ({ page }) => {
  await pickFiles(page, [join(DATA, 'ct-chest-elastix/chest_ct_derived_4x.nii.gz')]);
  const row = rowNamed(page, 'chest_ct_derived_4x.nii.gz');
  await expect(row.getByTestId('row-dims')).toHaveText('128 × 128 × 141');
  await expect(row.getByTestId('row-spacing')).toHaveText('3.906 × 3.906 × 2 mm');
  await expect(row.getByTestId('row-orientation')).toHaveText('LPS');
  await expect(row.getByTestId('row-ct')).toHaveText('HU-like');
});

test('JPEG 2000 DICOM series: 512×512×20 at 0.977×0.977×2 mm; its label map dropped later pairs with it', async ({ page }) => {
  const ms = await pickFolder(page, join(DATA, 'dicom-abdomen-j2k-totalseg/series'));
  console.log(`[timing] JPEG 2000 DICOM series (20 files, 512×512×20) loaded in ${ms} ms`);
  const row = rowNamed(page, 'series');
  await expect(row).toHaveAttribute('data-status', 'ok');
  await expect(row.getByTestId('row-dims')).toHaveText('512 × 512 × 20');
  await expect(row.getByTestId('row-spacing')).toHaveText('0.977 × 0.977 × 2 mm');
  await expect(row.getByTestId('row-ct')).toHaveText('HU-like · CT');
  await expect(page.getByTestId('viewer')).toHaveAttribute('data-shown', 'series');
  // A label map on the same grid, dropped in a later batch, is attached to the loaded series.
  await pickFiles(page, [join(DATA, 'dicom-abdomen-j2k-totalseg/example_seg_dicom.nii.gz')]);
  await expect(page.getByTestId('dataset-row')).toHaveCount(1);
  await expect(row.getByTestId('row-labels')).toContainText('example_seg_dicom.nii.gz');
});

test('3-slice DICOM folder: 512×512×3 with its three NRRD masks merged into one label map, their small overlap reported', async ({ page }) => {
  await pickFolder(page, join(DATA, 'dicom-ct3slice-dcmqi'));
  await expect(page.getByTestId('dataset-row')).toHaveCount(1);
  const row = page.getByTestId('dataset-row').first();
  // The masks keep their own label values (disjoint); liver and heart touch in a few hundred voxels: merged, said so.
  await expect(row.getByTestId('row-message').filter({ hasText: /liver_seg\.nrrd overlaps heart_seg\.nrrd in \d+ voxels .*merged/ })).toHaveCount(1);
  await expect(row).toHaveAttribute('data-status', 'warning');
  await expect(row.getByTestId('row-dims')).toHaveText('512 × 512 × 3');
  await expect(row.getByTestId('row-spacing')).toHaveText('0.811 × 0.811 × 1 mm');
  await expect(row.getByTestId('row-labels')).toContainText('3 ids');
  for (const mask of ['liver_seg.nrrd', 'spine_seg.nrrd', 'heart_seg.nrrd']) await expect(row.getByTestId('row-labels')).toContainText(mask);
});

test('a folder mixing two DICOM series yields two volumes, each saying so', async ({ page }, info) => {
  const dir = info.outputPath('mixed-series');
  mkdirSync(dir, { recursive: true });
  for (const src of ['dicom-abdomen-j2k-totalseg/series', 'dicom-ct3slice-dcmqi/series'])
    for (const f of readdirSync(join(DATA, src))) cpSync(join(DATA, src, f), join(dir, f));
  await pickFolder(page, dir);
  const rows = page.getByTestId('dataset-row');
  await expect(rows).toHaveCount(2);
  const dims = await rows.getByTestId('row-dims').allTextContents();
  expect(dims.sort()).toEqual(['512 × 512 × 20', '512 × 512 × 3']);
  for (const r of await rows.all()) {
    await expect(r).toHaveAttribute('data-status', 'warning');
    await expect(r.getByTestId('row-message').first()).toContainText('held 2 series');
  }
});

test('bad input: each problem is a row naming the file; the good files still load and nothing is lost', async ({ page }, info) => {
  await pickFiles(page, [join(DATA, 'ct-abdomen-totalseg/example_ct_sm.nii.gz')]);
  await expect(rowNamed(page, 'example_ct_sm.nii.gz')).toHaveAttribute('data-status', 'ok');

  const full = readFileSync(join(DATA, 'ct-abdomen-totalseg/example_ct.nii.gz'));
  const eye = [[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]];
  const flat = Buffer.from(niftiBytes({ dims: [32, 32, 1], spacing: [2, 2, 2], affine: eye, data: new Int16Array(1024).fill(-1000) }));
  const photo = new Uint8Array(16 * 16 * 16).map((_, i) => (i * 7) % 256);
  const eightBit = Buffer.from(niftiBytes({ dims: [16, 16, 16], spacing: [1, 1, 1], affine: eye, data: photo }));
  // A header that announces 2048×2048×200 int16 voxels (1.6 GiB, 800M voxels): refused before inflating anything.
  const huge = Buffer.from(niftiBytes({ dims: [4, 4, 4], spacing: [1, 1, 1], affine: eye, data: new Int16Array(64) }));
  [2048, 2048, 200].forEach((d, i) => huge.writeInt16LE(d, 42 + 2 * i));
  await pickFiles(page, [
    { name: 'truncated.nii.gz', mimeType: 'application/gzip', buffer: full.subarray(0, full.length >> 1) },
    { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a scan\n') },
    { name: 'slice.nii', mimeType: 'application/octet-stream', buffer: flat },
    { name: 'photo-8bit.nii', mimeType: 'application/octet-stream', buffer: eightBit },
    { name: 'huge.nii.gz', mimeType: 'application/gzip', buffer: gzipSync(huge) },
    { name: 'example_ct.nii.gz', mimeType: 'application/gzip', buffer: full },
  ]);
  const expectProblem = async (name: string, status: string, message: RegExp) => {
    const row = rowNamed(page, name);
    await expect(row).toHaveAttribute('data-status', status);
    await expect(row.getByTestId('row-message').first()).toHaveText(message);
  };
  await expectProblem('truncated.nii.gz', 'error', /truncated|cut short/);
  await expectProblem('notes.txt', 'error', /not an image file/);
  await expectProblem('slice.nii', 'error', /2-D image \(32×32×1\)/);
  await expectProblem('photo-8bit.nii', 'warning', /not HU-like: .*8-bit/);
  await expect(rowNamed(page, 'photo-8bit.nii').getByTestId('row-dims')).toHaveText('16 × 16 × 16'); // still loaded
  await expectProblem('huge.nii.gz', 'error', /too large for the browser: 2048×2048×200/);
  await expect(rowNamed(page, 'example_ct.nii.gz')).toHaveAttribute('data-status', 'ok');
  // What was loaded before is still there.
  await expect(rowNamed(page, 'example_ct_sm.nii.gz')).toHaveAttribute('data-status', 'ok');

  // An empty folder says so.
  const empty = info.outputPath('empty-folder');
  mkdirSync(empty, { recursive: true });
  await pickFolder(page, empty);
  await expect(page.getByTestId('dataset-row').filter({ hasText: /is empty/ })).toHaveCount(1);
  // A folder holding only documents says so too.
  const docs = info.outputPath('docs-only');
  mkdirSync(docs, { recursive: true });
  writeFileSync(join(docs, 'README.md'), '# notes\n');
  await pickFolder(page, docs);
  await expect(page.getByTestId('dataset-row').filter({ hasText: 'folder "docs-only" holds no images (only README.md)' })).toHaveCount(1);
  await expect(page.locator('[data-testid="dataset-row"][data-status="ok"]')).toHaveCount(2);
  mkdirSync('artifacts/screenshots', { recursive: true });
  await page.screenshot({ path: 'artifacts/screenshots/dataset-problems.png' });
});
