import { expect, test } from '@playwright/test';

// The model in a real browser (Chromium; WebGPU through SwiftShader): every preset, shrunk to a tiny width with
// its own depth and stage taps, gives the cpu backend's embedding, head outputs and gradients on webgpu (tfjs's
// matmul and the register-tiled one initBackend uses on software adapters) and on wasm (with its fast matmul
// paths). Build into /tmp/dist-model and serve on port 4183:
//   npx vite build --outDir /tmp/dist-model --logLevel warn && \
//   PW_OUTDIR=/tmp/dist-model PW_PORT=4183 PW_RESULTS=/tmp/pw-model npx playwright test e2e/model-parity.spec.ts

// A local view of the harness globals (other specs declare their own; a global `declare` would clash).
type Harness = { selftest: { model: typeof import('../src/selftest/model') }; selftestReady: boolean };

const TOLERANCE = 1e-3; // relative to the cpu result's largest magnitude

test.beforeEach(async ({ page }) => {
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
  await page.goto('/selftest.html');
  await page.waitForFunction(() => (window as unknown as Harness).selftestReady === true);
});

// SwiftShader compiles every pipeline in software, so the browser runs use 8³ crops (8 tokens of 4³ voxels)
// and 3 crops; the Node test (test/model-webgpu.test.ts) runs 16³ crops. The register-tiled matmul is what the
// studio uses on SwiftShader, so it runs every preset; tfjs's own matmul (real GPUs) runs the shallowest and
// the deepest preset here and every preset under Node (Dawn).
const runs = [
  { backend: 'webgpu', registerTiledMatMul: true, presets: undefined },
  { backend: 'webgpu', registerTiledMatMul: false, presets: ['tiny', 'H'] },
  { backend: 'wasm', registerTiledMatMul: undefined, presets: undefined },
] as const;

for (const run of runs) {
  test(`model parity: ${run.backend}${run.registerTiledMatMul ? ' (register-tiled matmul)' : ''} equals cpu for ${run.presets ? run.presets.join(' and ') : 'every preset'}`, async ({ page }) => {
    const report = await page.evaluate(
      (r) =>
        (window as unknown as Harness).selftest.model.compareWithCpu(r.backend, {
          registerTiledMatMul: r.registerTiledMatMul,
          presets: r.presets ? [...r.presets] : undefined,
          cropSize: 8,
          crops: 3,
        }),
      run,
    );
    for (const p of report.presets) {
      console.log(`[model ${report.backend}/${report.matmul}] ${p.preset} depth ${p.shape.depth}: worst ${p.worst.name} ${p.worst.relError.toExponential(2)}`);
    }
    console.log(`[model ${report.backend}] ${report.ms} ms${report.adapter ? `, adapter ${report.adapter}` : ''}`);
    expect(report.error).toBeNull();
    expect(report.ran, 'the backend that ran must be the one requested').toBe(run.backend);
    expect(report.gpuErrors).toEqual([]);
    if (run.backend === 'webgpu') expect(report.matmul).toBe(run.registerTiledMatMul ? 'register-tiled' : 'stock');
    expect(report.presets.length).toBe(run.presets ? run.presets.length : 5);
    for (const p of report.presets) {
      for (const d of [p.embedding, p.student, p.teacher, p.loss, ...p.grads]) {
        if (!d.exactZero) expect(d.maxAbsRef, `${p.preset} ${d.name} is all zeros`).toBeGreaterThan(0);
        expect(d.relError, `${report.backend} ${p.preset} ${d.name}`).toBeLessThan(TOLERANCE);
      }
    }
  });
}

test('tiny preset: one step of 22 crops at r=16 runs in a few seconds on SwiftShader WebGPU', async ({ page }) => {
  const t = await page.evaluate(() =>
    (window as unknown as Harness).selftest.model.timeStep('webgpu', { preset: 'tiny', cropSize: 16, crops: 22, registerTiledMatMul: true }),
  );
  console.log(`[model step] tiny r=16 ×22 on webgpu (register-tiled): warm-up ${t.warmupMs} ms, steps ${t.ms.join(', ')} ms`);
  expect(t.error).toBeNull();
  expect(t.ms.length).toBe(2);
  // "A few seconds" with headroom for a loaded 2-core machine.
  expect(Math.min(...t.ms)).toBeLessThan(10_000);
});
