import { expect, test } from '@playwright/test';

// The training loop in a real browser (Chromium, WebGPU via SwiftShader): the full training step on webgpu equals
// the cpu backend, and the real training worker trains on the sample CT. Build into /tmp/dist-trainer, port 4184:
//   npx vite build --outDir /tmp/dist-trainer --logLevel warn && \
//   PW_OUTDIR=/tmp/dist-trainer PW_PORT=4184 PW_RESULTS=/tmp/pw-trainer npx playwright test e2e/train-parity.spec.ts

type TrainerSelftest = typeof import('../src/selftest/trainer');
// A local view of the harness's globals (other specs declare their own; no global augmentation here).
type HarnessWindow = { selftest: { trainer: TrainerSelftest }; selftestReady: boolean };

test.beforeEach(async ({ page }) => {
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
  await page.goto('/selftest.html');
  await page.waitForFunction(() => (window as unknown as HarnessWindow).selftestReady === true);
});

test('training step (loss, every gradient, 3 AdamW steps) on webgpu equals cpu — tiny preset, r=16', async ({ page }) => {
  const r = await page.evaluate(() => (window as unknown as HarnessWindow).selftest.trainer.trainingStepParity({ backend: 'webgpu', steps: 3 }));
  console.log(JSON.stringify(r, null, 1));
  expect(r.ran, 'the backend that ran must be webgpu').toBe('webgpu');
  expect(r.gpuErrors, 'GPU errors').toEqual([]);
  expect(r.gradsAllNamed).toBe(true);
  expect(r.gradsAllFinite).toBe(true);
  expect(r.gradsZero, 'gradients that are all zero on webgpu (a silently failed kernel)').toEqual([]);
  expect(r.gradCount).toBeGreaterThan(10);
  expect(r.lossDiff).toBeLessThan(1e-4);
  expect(r.logitsMaxDiff).toBeLessThan(1e-4);
  expect(r.gradNormRelDiff).toBeLessThan(1e-3);
  expect(r.worstGrad.relMaxDiff, `worst gradient: ${r.worstGrad.name}`).toBeLessThan(1e-3);
  expect(r.stepLossMaxDiff).toBeLessThan(1e-3);
});

test('the training worker trains 3 steps on webgpu with the sample CT and reports backend webgpu', async ({ page }) => {
  const r = await page.evaluate(() => (window as unknown as HarnessWindow).selftest.trainer.workerSmoke({ backend: 'webgpu', steps: 3 }));
  console.log(JSON.stringify(r, null, 1));
  expect(r.errors).toEqual([]);
  expect(r.gpuErrors).toEqual([]);
  expect(r.backend.name).toBe('webgpu');
  expect(r.paramCount).toBeGreaterThan(0);
  expect(r.steps.map((s) => s.step)).toEqual([0, 1, 2]);
  for (const s of r.steps) {
    expect(Number.isFinite(s.loss)).toBe(true);
    expect(s.regions).toBe(2);
  }
  expect(r.states).toEqual(['idle', 'running', 'done']);
  expect(r.embedding).toEqual({ dim: 96, count: 1, finite: true });
});
