import { expect, test } from '@playwright/test';

// Round-2 performance kernels in a real browser (Chromium): the WebAssembly SIMD batched matmul inside the wasm
// backend (plain SIMD, and relaxed SIMD where Chromium validates it) and the fused AdamW kernel on wasm and on
// WebGPU (SwiftShader here), each against its CPU twin. Build and run:
//   npx vite build --outDir dist-perf && PW_PORT=4209 PW_OUTDIR=dist-perf PW_RESULTS=test-results-perf \
//     npx playwright test e2e/perf-kernels.spec.ts

type PerfSelftest = { perfKernels: typeof import("../src/selftest/perfKernels") };

test.beforeEach(async ({ page }) => {
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
  await page.goto('/selftest.html');
  await page.waitForFunction(() => (window as unknown as { selftestReady?: boolean }).selftestReady === true);
});

test('wasm SIMD batched matmul equals the CPU twin (plain and relaxed SIMD) and really runs', async ({ page }) => {
  const r = await page.evaluate(() => (window as unknown as { selftest: PerfSelftest }).selftest.perfKernels.wasmSimdParity());
  console.log(`[simd] Chromium: SIMD ${r.support.simd}, relaxed SIMD ${r.support.relaxed}`);
  expect(r.ran).toBe('wasm');
  expect(r.support.simd).toBe(true);
  expect(r.cases.length).toBe(r.support.relaxed ? 12 : 6);
  for (const c of r.cases) {
    console.log(`[simd] ${c.relaxed ? 'relaxed' : 'plain'} ${c.name}: max rel err ${c.maxRelErr.toExponential(2)}`);
    expect(c.simdRan, `${c.name} (relaxed ${c.relaxed}) ran on the SIMD kernel`).toBe(true);
    expect(c.maxRelErr, c.name).toBeLessThan(1e-5);
  }
});

test('wasm SIMD GEMM (linear layers, weight gradients) equals the CPU twin on helper threads and alone, and really runs', async ({ page }) => {
  const r = await page.evaluate(() => (window as unknown as { selftest: PerfSelftest }).selftest.perfKernels.simdGemmParity());
  console.log(`[gemm] Chromium: heap shared ${r.shared}, GEMM threads ${r.threads}, tasks run by helpers ${r.helperTasks}`);
  expect(r.ran).toBe('wasm');
  expect(r.shared).toBe(true);
  // Chromium here reports 2 cores: the caller + one helper.
  expect(r.threads).toBeGreaterThanOrEqual(2);
  expect(r.helperTasks, 'the helper threads took part').toBeGreaterThan(0);
  expect(r.cases.filter((c) => c.threads === 1).length).toBe(r.cases.length / 2);
  for (const c of r.cases) {
    console.log(`[gemm] ${c.threads} thread(s), ${c.relaxed ? 'relaxed' : 'plain'} ${c.name}: max rel err ${c.maxRelErr.toExponential(2)}`);
    expect(c.gemmRan, `${c.name} ran on the GEMM`).toBe(true);
    expect(c.tol).toBeLessThanOrEqual(5e-5);
    expect(c.maxRelErr, c.name).toBeLessThan(c.tol);
  }
});

test('fused LayerNorm, GELU and scaled softmax on threaded wasm equal their CPU twins and really run on SIMD', async ({ page }) => {
  const r = await page.evaluate(() => (window as unknown as { selftest: PerfSelftest }).selftest.perfKernels.fusedRowKernelsParity());
  expect(r.ran).toBe('wasm');
  console.log(`[fused] wasm heap shared: ${r.shared}`);
  expect(r.cases.length).toBe(8);
  for (const c of r.cases) {
    console.log(`[fused] ${c.name}: max rel err ${c.maxRelErr.toExponential(2)}`);
    expect(c.simdRan, `${c.name} ran on the SIMD path`).toBe(true);
    expect(c.tol).toBeLessThanOrEqual(1e-4);
    expect(c.maxRelErr, c.name).toBeLessThan(c.tol);
  }
});

for (const backend of ['wasm', 'webgpu'] as const) {
  test(`fused AdamW on ${backend} equals the CPU twin, with no GPU errors`, async ({ page }) => {
    const r = await page.evaluate((b) => (window as unknown as { selftest: PerfSelftest }).selftest.perfKernels.fusedAdamWParity(b), backend);
    console.log(`[adamw] ${JSON.stringify(r)}`);
    expect(r.error).toBeNull();
    expect(r.ran).toBe(backend);
    expect(r.runs).toBe(1);
    expect(r.gpuErrors).toEqual([]);
    expect(r.maxRelErr).toBeLessThan(1e-5);
  });
}

test('register-tiled matmul, subgroup variant on webgpu: equals a float64 reference where the adapter has subgroups; kernels chosen by measurement', async ({ page }) => {
  const r = await page.evaluate(() => (window as unknown as { selftest: PerfSelftest }).selftest.perfKernels.subgroupMatMulParity());
  console.log(`[subgroups] adapter features: ${r.adapterFeatures.join(', ')}`);
  console.log(`[subgroups] device has subgroups: ${r.deviceHasSubgroups}; kernels at start: ${r.kernels.join(' | ')}`);
  expect(r.error).toBeNull();
  expect(r.ran).toBe('webgpu');
  // The start-up choice was measured on this adapter (not assumed from "software").
  expect(r.kernels.join(' ')).toMatch(/BatchMatMul → .*\(tiled [\d.]+ ms, .*tfjs [\d.]+ ms\).*crop sampler \d+×\d+ \(64x8 [\d.]+ ms/);
  test.skip(!r.adapterFeatures.includes('subgroups'), 'this adapter has no subgroups feature: the variant cannot run here');
  expect(r.deviceHasSubgroups).toBe(true);
  expect(r.gpuErrors).toEqual([]);
  expect(r.cases.length).toBe(12);
  for (const c of r.cases) {
    console.log(`[subgroups] ${c.name}: max rel err ${c.maxRelErr.toExponential(2)}`);
    expect(c.ourProgramRan, c.name).toBe(true);
    expect(c.maxRelErr, c.name).toBeLessThan(1e-5);
  }
});
