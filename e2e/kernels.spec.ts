import { expect, test } from '@playwright/test';

// Custom kernels in a real browser (Chromium, WebGPU via SwiftShader): crop sampler parity against the CPU twin
// on webgpu, wasm and webgl, then its throughput. Build into /tmp/dist-kernels and serve on port 4182:
//   npx vite build --outDir /tmp/dist-kernels --logLevel warn && \
//   PW_OUTDIR=/tmp/dist-kernels PW_PORT=4182 PW_RESULTS=/tmp/pw-kernels npx playwright test e2e/kernels.spec.ts

type Selftest = { kernels: typeof import('../src/selftest/kernels') };
declare global {
  interface Window { selftest: Selftest; selftestReady: boolean }
}

test.beforeEach(async ({ page }) => {
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
  await page.goto('/selftest.html');
  await page.waitForFunction(() => window.selftestReady === true);
});

test('crop sampler: webgpu, wasm and webgl equal the CPU twin exactly, with no GPU errors', async ({ page }) => {
  const reports = await page.evaluate(() => window.selftest.kernels.cropSamplerParityAll());
  console.log(JSON.stringify(reports, null, 1));
  expect(reports.map((r) => r.requested)).toEqual(['webgpu', 'wasm', 'webgl']);
  for (const report of reports) {
    expect(report.error, `${report.requested}: ${report.error}`).toBeNull();
    expect(report.ran, 'the backend that ran must be the one requested').toBe(report.requested);
    expect(report.gpuErrors, `${report.requested} GPU errors`).toEqual([]);
    expect(report.cases.length).toBe(6);
    for (const c of report.cases) {
      expect(c.values, `${report.requested} ${c.name}`).toBeGreaterThan(0);
      expect(c.mismatches, `${report.requested} ${c.name}: ${c.firstMismatch}`).toBe(0);
    }
  }
});

test('crop sampler throughput (2 volumes 110×90×110, 22 crops r=32 p=8)', async ({ page }, testInfo) => {
  const results = [];
  for (const backend of ['cpu', 'wasm', 'webgl', 'webgpu'] as const) {
    const r = await page.evaluate((b) => window.selftest.kernels.benchCropSampler(b, { minMs: 2000 }), backend);
    console.log(`[bench] ${r.backend}: ${r.msPerCall} ms/call, ${r.gbPerSec} GB/s written (${r.iterations} calls)`);
    expect(r.backend).toBe(backend);
    expect(r.gpuErrors).toEqual([]);
    expect(r.msPerCall).toBeGreaterThan(0);
    results.push(r);
  }
  await testInfo.attach('crop-sampler-bench.json', { body: JSON.stringify(results, null, 1), contentType: 'application/json' });
});

test('register-tiled matMul: exact enough on webgpu, no GPU errors, and its speed against tfjs', async ({ page }, testInfo) => {
  const parity = await page.evaluate(() => window.selftest.kernels.matMulParity());
  expect(parity.ran).toBe('webgpu');
  expect(parity.gpuErrors).toEqual([]);
  expect(parity.cases.length).toBe(8);
  for (const c of parity.cases) {
    expect(c.ourProgramRan, c.name).toBe(true);
    expect(c.maxRelErr, c.name).toBeLessThan(1e-5);
  }
  const adapter = await page.evaluate(() => window.selftest.kernels.webgpuAdapterInfo());
  const bench = await page.evaluate(() => window.selftest.kernels.benchMatMul([[1408, 128, 384], [512, 512, 512]], { rounds: 2, perRound: 2 }));
  console.log(`[matmul] adapter ${JSON.stringify(adapter)}`);
  for (const b of bench) console.log(`[matmul] ${b.shape}: tfjs ${b.tfjsMs} ms (${b.tfjsGflops} GFLOP/s), register-tiled ${b.tiledMs} ms (${b.tiledGflops} GFLOP/s), max |diff| ${b.maxAbsDiff}`);
  for (const b of bench) expect(b.maxAbsDiff, b.shape).toBeLessThan(1e-3);
  await testInfo.attach('matmul-bench.json', { body: JSON.stringify({ adapter, bench }, null, 1), contentType: 'application/json' });
});
