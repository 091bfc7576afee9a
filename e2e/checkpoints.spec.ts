// Importing the authors' checkpoints in the browser: the fixture .pt (a DDP training checkpoint subset) and the
// float16 .safetensors show their key reports before anything is used; a dropped .pt goes to Train → Import
// model, not to the scan loader. Screenshot: artifacts/screenshots/import-report.png.
import { expect, test } from '@playwright/test';
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { VOCO_SWIN_FIXTURE } from '../test/helpers/paths';

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
