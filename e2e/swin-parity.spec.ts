import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, test } from '@playwright/test';
import { float64Gradients } from '../test/helpers/swinFloat64';

// The authors' VoCo backbone in Chromium (WebGPU through SwiftShader where there is no GPU) against their PyTorch
// fixture (VOCO_SWIN_FIXTURE, default test/fixtures/voco-swin/): every tensor within 1e-4; fails if the backend that
// ran was not webgpu or a GPU error (uncapturederror) fired. Build and serve:
//   npx vite build --outDir dist-swin && PW_PORT=4205 PW_OUTDIR=dist-swin PW_RESULTS=test-results-swin \
//     npx playwright test e2e/swin-parity.spec.ts

type Harness = { selftest: { swinParity: typeof import('../src/selftest/swinParity') }; selftestReady: boolean };

const FIXTURE = process.env.VOCO_SWIN_FIXTURE ?? resolve(import.meta.dirname, '../test/fixtures/voco-swin');

test('VoCo Swin backbone on webgpu equals the authors\' PyTorch fixture (forward, heads, gradients)', async ({ page }) => {
  test.skip(process.env.VOCO_SLOW_TESTS !== '1', 'the reference backbone on SwiftShader takes tens of minutes: VOCO_SLOW_TESTS=1 runs it');
  test.setTimeout(4_800_000); // ~30 min on SwiftShader with 2 loaded cores
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
  await page.goto('/selftest.html');
  await page.waitForFunction(() => (window as unknown as Harness).selftestReady === true);
  const fixture = {
    config: readFileSync(join(FIXTURE, 'swin-fs12.json'), 'utf8'),
    weights: readFileSync(join(FIXTURE, 'swin-fs12.safetensors')).toString('base64'),
    io: readFileSync(join(FIXTURE, 'swin-fs12-io.safetensors')).toString('base64'),
  };
  // The fixture's gradients in float64 (python3 + torch, on the Node side): each gradient is held to 1e-4 against
  // them, and to 1e-4 plus the fixture's own float32 error against the fixture.
  const exact = float64Gradients([]);
  const report = await page.evaluate(([f, fixtureError]) => (window as unknown as Harness).selftest.swinParity.runSwinParityIn('webgpu', f, { fixtureError }), [fixture, exact.fixture_error] as const);
  for (const d of report.diffs) console.log(`[swin-parity chromium ${report.backend}] ${d.name.padEnd(70)} ${d.relError.toExponential(2)} (per element ${d.elementError.toExponential(2)})`);
  console.log(`[swin-parity chromium] forward ${report.ms.forward} ms, gradient ${report.ms.gradient} ms`);
  expect(report.error).toBeNull();
  expect(report.backend, 'the backend that ran must be webgpu').toBe('webgpu');
  expect(report.gpuErrors).toEqual([]);
  expect(report.diffs.length).toBeGreaterThanOrEqual(20);
  for (const d of report.diffs) {
    expect(d.maxAbsWant, `${d.name} is all zeros`).toBeGreaterThan(0);
    const bound = d.name.startsWith('grad.') ? 1e-4 + exact.fixture_error[d.name.slice(5)] : d.name.includes('end to end') ? 1e-3 : 1e-4;
    expect(d.tolerance, d.name).toBeLessThanOrEqual(bound * (1 + 1e-9));
    expect(d.relError, d.name).toBeLessThanOrEqual(d.tolerance);
  }
  const names = Object.keys(report.gradients).sort();
  expect(names).toEqual(Object.keys(exact.gradients).sort());
  for (const name of names) {
    const got = report.gradients[name];
    const want = exact.gradients[name];
    const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const err = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0) / scale;
    console.log(`[swin-parity chromium] grad.${name} vs float64 ${err.toExponential(2)} (the fixture itself: ${exact.fixture_error[name].toExponential(2)})`);
    expect(got.length).toBe(want.length);
    expect(err, `grad.${name} against the float64 recomputation`).toBeLessThanOrEqual(1e-4);
  }
});
