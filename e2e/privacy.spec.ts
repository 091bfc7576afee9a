import { expect, test, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { headerProblems, parseCsp } from '../scripts/security-headers.mjs';
import { DATA, pickFolder, rowNamed } from './helpers/ingest';

// A session that does the studio's real work must never talk to anything but the page's own origin: every request
// of the page and its workers is recorded, WebSocket and WebRTC attempts too, and the page carries a strict CSP
// (parsed directive by directive). The session loads scans (NIfTI and DICOM), trains a tiny run, computes a
// similarity map, runs a benchmark task and exports and imports the run.

async function setField(page: Page, testId: string, value: string | number): Promise<void> {
  await page.getByTestId(testId).fill(String(value));
}

test('privacy: loading, training, a map, a benchmark and an import reach nothing outside the origin', async ({ page, context }, info) => {
  test.setTimeout(420_000);
  const requests: string[] = [];
  const sockets: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  page.on('websocket', (ws) => sockets.push(ws.url()));
  page.on('pageerror', (e) => console.log('[pageerror]', e.message));
  // WebRTC cannot be seen as a request: count every peer connection the page (or a library) tries to make.
  await page.addInitScript(() => {
    const w = window as unknown as { __rtc: number; RTCPeerConnection?: unknown; webkitRTCPeerConnection?: unknown };
    w.__rtc = 0;
    for (const name of ['RTCPeerConnection', 'webkitRTCPeerConnection'] as const) {
      const Orig = w[name] as (new (...a: unknown[]) => object) | undefined;
      if (!Orig) continue;
      w[name] = new Proxy(Orig, {
        construct(target, args) {
          w.__rtc += 1;
          return Reflect.construct(target, args);
        },
      });
    }
  });

  const response = await page.goto('/');
  const headers = response!.headers();
  // The CSP, directive by directive.
  const csp = parseCsp(headers['content-security-policy']);
  expect(csp.get('default-src')).toEqual(["'self'"]);
  expect(csp.get('connect-src')).toEqual(["'self'", 'blob:', 'data:']);
  expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
  expect(csp.get('object-src')).toEqual(["'none'"]);
  expect(csp.get('form-action')).toEqual(["'none'"]);
  expect(csp.get('script-src')).not.toContain("'unsafe-inline'");
  expect(csp.get('script-src')).not.toContain("'unsafe-eval'");
  // Every header the studio needs, checked the way `npm run check-headers` checks a deployment.
  expect(headerProblems(headers)).toEqual([]);
  expect(headers['x-content-type-options']).toBe('nosniff');

  // Loading: the bundled samples (loaded on start) and a DICOM series (dcm2niix WebAssembly in a nested worker).
  await expect(rowNamed(page, 'sample-ct.nii.gz')).toHaveAttribute('data-status', 'ok', { timeout: 60_000 });
  await expect(rowNamed(page, 'sample-chest-ct.nii.gz')).toHaveAttribute('data-status', 'ok', { timeout: 60_000 });
  await pickFolder(page, join(DATA, 'dicom-ct3slice-dcmqi/series'));
  await expect(page.locator('[data-testid="dataset-row"][data-status="ok"]')).toHaveCount(3);

  // Training: a tiny run of 2 steps on the two samples.
  await page.getByTestId('tab-train').click();
  const dicomPick = page.locator('[data-testid="volume-pick-row"][data-name="series"] [data-testid="volume-pick"]');
  if (await dicomPick.isChecked()) await dicomPick.click(); // 3 slices: padded, but slow to pack; two volumes suffice
  await page.getByTestId('cfg-preset').selectOption('tiny');
  await setField(page, 'cfg-cropSize', 16);
  await setField(page, 'cfg-gridN', 3);
  await setField(page, 'cfg-batchVolumes', 2);
  await setField(page, 'cfg-randomCrops', 1);
  await setField(page, 'cfg-totalSteps', 2);
  await setField(page, 'cfg-warmupSteps', 1);
  await setField(page, 'cfg-checkpointEvery', 2);
  await page.getByTestId('cfg-backend').selectOption('wasm');
  await expect(page.getByTestId('config-issues')).toHaveCount(0);
  await page.getByTestId('btn-start').click();
  await expect(page.getByTestId('run-phase')).toHaveText('done', { timeout: 180_000 });

  // Export the run and import it again.
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), page.getByTestId('btn-export-run').click()]);
  const runFile = info.outputPath('privacy-run.voco');
  await dl.saveAs(runFile);
  expect(readFileSync(runFile).length).toBeGreaterThan(1000);
  await page.getByTestId('input-import-run').setInputFiles(runFile);
  await expect(page.getByTestId('runs-notice')).toContainText('Imported privacy-run.voco');

  // A similarity map of the sample CT (coarse stride: the point is the traffic, not the map).
  await rowNamed(page, 'sample-ct.nii.gz').click();
  await page.getByTestId('tab-maps').click();
  await setField(page, 'maps-stride', 16);
  await page.getByTestId('layout-axial').click();
  const canvas = page.getByTestId('viewer-canvas');
  const box = (await canvas.boundingBox())!;
  await canvas.click({ position: { x: box.width * 0.45, y: box.height * 0.55 } });
  await expect(page.getByTestId('maps-panel')).toHaveAttribute('data-status', 'done', { timeout: 180_000 });

  // A benchmark: the position task for random weights only, on wasm.
  await page.getByTestId('tab-benchmark').click();
  const panel = page.getByTestId('benchmark-panel');
  const check = async (id: string, on: boolean) => {
    const el = panel.getByTestId(id);
    if ((await el.count()) && (await el.isChecked()) !== on) await el.click();
  };
  for (const t of ['organ-probe', 'few-shot-seg', 'retrieval']) await check(`bench-task-${t}`, false);
  await check('bench-task-position', true);
  await check('bench-sweep', false);
  await check('bench-w-initial', true);
  await check('bench-w-current', false);
  await panel.getByTestId('bench-w-preset').selectOption('tiny');
  await panel.getByTestId('bench-r').selectOption('16');
  await panel.getByTestId('bench-backend').selectOption('wasm');
  await panel.getByTestId('bench-crops').fill('4');
  await panel.getByTestId('bench-run').click();
  await expect(panel.getByTestId('bench-phase')).toHaveAttribute('data-phase', 'done', { timeout: 180_000 });
  await expect(panel.getByTestId('bench-score').first()).toBeVisible();

  for (const tab of ['preprocess', 'train']) await page.getByTestId(`tab-${tab}`).click();

  const origin = new URL(page.url()).origin;
  const foreign = requests.filter((u) => !(u.startsWith(`${origin}/`) || u.startsWith('data:') || u.startsWith('blob:')));
  const rtc = await page.evaluate(() => (window as unknown as { __rtc: number }).__rtc);
  console.log(`[privacy] ${requests.length} requests recorded, ${foreign.length} outside ${origin}; ${sockets.length} WebSockets; ${rtc} RTCPeerConnections`);
  expect(foreign).toEqual([]);
  expect(sockets).toEqual([]);
  expect(rtc).toBe(0);
  // The recording sees worker traffic too: the DICOM decoder's and the wasm backend's WebAssembly came from the origin.
  expect(requests.some((u) => /dcm2niix.*\.wasm$/.test(u))).toBe(true);
  expect(requests.some((u) => /tfjs-backend-wasm.*\.wasm$/.test(u))).toBe(true);
  for (const f of ['sample-ct.nii.gz', 'sample-ct_seg.nii.gz', 'sample-chest-ct.nii.gz']) expect(requests.some((u) => u.endsWith(`/${f}`))).toBe(true);
});
