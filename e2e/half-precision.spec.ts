import { expect, test } from '@playwright/test';

// Half-precision storage for WebGPU matmul operands in a real browser (Chromium; WebGPU through SwiftShader here):
// the f16 cast kernel bit for bit against its CPU twin, the packed-f16 matmul against the f16-rounded twin and within
// f16's error bound of float32, on the studio's own WebGPU device, with no GPU errors. The native `shader-f16`
// variant runs only where the adapter offers the feature; otherwise the report names the adapter and the test says
// it was skipped (it never claims it ran). Build and run:
//   npx vite build --outDir dist-f16 && PW_PORT=4313 PW_OUTDIR=dist-f16 PW_RESULTS=test-results-f16 \
//     npx playwright test e2e/half-precision.spec.ts

type HalfSelftest = { halfPrecision: typeof import('../src/selftest/halfPrecision') };

test.beforeEach(async ({ page }) => {
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
  await page.goto('/selftest.html');
  await page.waitForFunction(() => (window as unknown as { selftestReady?: boolean }).selftestReady === true);
});

test('f16 cast and packed-f16 matmul on WebGPU equal their CPU twin; native f16 only where the adapter has it', async ({ page }, testInfo) => {
  const r = await page.evaluate(() => (window as unknown as { selftest: HalfSelftest }).selftest.halfPrecision.parity());
  console.log(`[f16] Chromium WebGPU adapter "${r.adapter.text}"; adapter features: ${r.adapter.adapterFeatures.join(', ')}`);
  expect(r.ran).toBe('webgpu');
  expect(r.gpuErrors).toEqual([]);
  expect(r.castWords).toBe(9 * 7);
  expect(r.castMismatches).toEqual([]);
  const hasF16 = r.adapter.deviceFeatures.includes('shader-f16');
  expect(r.cases.length).toBe(hasF16 ? 12 : 6);
  for (const c of r.cases) {
    console.log(`[f16] ${c.storage} ${c.name}: ${c.bitEqual}/${c.values} bit-equal to the twin, worst |Δ twin| ${c.twinWorst.toFixed(2)} (≤ 1), |Δ f64| ${c.boundWorst.toFixed(3)} of the f16 bound (≤ 1), f16 effect ${c.f16Effect.toFixed(1)}× float32's bound`);
    expect(c.programRan, `${c.storage} ${c.name}: our program ran`).toBe(true);
    expect(c.twinWorst, c.name).toBeLessThanOrEqual(1);
    expect(c.boundWorst, c.name).toBeLessThanOrEqual(1);
    if (c.k > 2) expect(c.f16Effect, `${c.name}: operands really rounded to f16`).toBeGreaterThan(1);
  }
  // The float32 pairs variant (the same loop on float32) sums exactly as the plain register-tiled program.
  expect(r.pairs.length).toBe(5);
  for (const c of r.pairs) {
    console.log(`[pairs] ${c.name}: ${c.differing}/${c.values} values differ from the plain program`);
    expect(c.programRan, c.name).toBe(true);
    expect(c.differing, c.name).toBe(0);
  }
  if (hasF16) expect(r.nativeSkipped).toBeNull();
  else {
    expect(r.nativeSkipped).toContain(r.adapter.text);
    testInfo.annotations.push({ type: 'skipped: native f16', description: r.nativeSkipped! });
    console.log(`[f16] native f16 variant NOT run: ${r.nativeSkipped}`);
  }
  await testInfo.attach('half-precision-parity.json', { body: JSON.stringify(r, null, 1), contentType: 'application/json' });
});

test('the f32 vs f16 storage bench runs every variant on WebGPU with no GPU errors (numbers: npm run bench)', async ({ page }) => {
  const r = await page.evaluate(() => (window as unknown as { selftest: HalfSelftest }).selftest.halfPrecision.bench([64], { rounds: 1, perRound: 1 }));
  const native = r.adapter.deviceFeatures.includes('shader-f16');
  expect(r.gpuErrors).toEqual([]);
  expect(r.rows.map((x) => x.variant)).toEqual(['f32 tiled', 'f32 pairs', 'f16 packed (pre-cast)', 'f16 packed + cast',
    ...(native ? ['native f16 (pre-cast)', 'native f16 + cast'] : []), "tfjs's f32"]);
  expect(r.copyGbPerSec).toBeGreaterThan(0);
  for (const x of r.rows) {
    expect(x.gflops, x.variant).toBeGreaterThan(0);
    // f16 operands with K = 64 and values in [-1, 1]: |Δ| ≤ (2u + u² + 2K·2^-24)·Σ|a||b| ≤ 0.07; f32 programs agree closely.
    expect(x.maxAbsDiffVsF32, x.variant).toBeLessThan(x.variant.includes('f16') ? 0.07 : 1e-4);
    if (x.variant.includes('f16')) expect(x.maxAbsDiffVsF32, `${x.variant} differs from f32 (operands really rounded)`).toBeGreaterThan(0);
  }
});
