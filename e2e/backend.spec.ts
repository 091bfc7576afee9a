import { expect, test } from '@playwright/test';

// initBackend inside a module Web Worker on the built app (cross-origin isolated, strict CSP).
// On this GPU-less machine WebGPU and WebGL run on SwiftShader, so `auto` must measure and pick wasm.
test.beforeEach(async ({ page }) => {
  page.on('console', (m) => m.type() === 'error' && console.log('[page]', m.text()));
  await page.goto('/selftest.html');
  await page.waitForFunction(() => (window as any).selftestReady === true);
});

test('auto in a worker measures the backends and picks wasm, threaded', async ({ page }) => {
  const r = await page.evaluate(() => (window as any).selftest.backend.initInWorker('auto', { useStore: false }));
  console.log('auto:', JSON.stringify(r));
  expect(r.ok, r.error).toBe(true);
  expect(r.crossOriginIsolated).toBe(true);
  expect(r.info.name).toBe('wasm');
  expect(r.active).toBe('wasm');
  expect(r.check).toBe(14);
  expect(r.info.wasmThreads).toBeGreaterThan(1);
  expect(r.info.reason).toMatch(/^measured matmul GFLOP\/s: wasm [\d.]+ > /);
  expect(r.info.reason).toMatch(/webgpu [\d.]+ \(software adapter\)/);
  const webgpu = r.info.measurements.find((m: any) => m.name === 'webgpu');
  expect(webgpu.software).toBe(true);
  expect(webgpu.gflops).toBeGreaterThan(0);
});

test('auto remembers its choice for this device in IndexedDB', async ({ page }) => {
  const first = await page.evaluate(() => (window as any).selftest.backend.initInWorker('auto', { reprobe: true }));
  expect(first.ok, first.error).toBe(true);
  const second = await page.evaluate(() => (window as any).selftest.backend.initInWorker('auto'));
  expect(second.ok, second.error).toBe(true);
  expect(second.info.name).toBe(first.info.name);
  expect(second.info.reason).toMatch(/^remembered for this device \(measured/);
  expect(second.info.measurements).toBeUndefined();
});

test('forced webgpu runs on the software adapter and says so', async ({ page }) => {
  const r = await page.evaluate(() => (window as any).selftest.backend.initInWorker('webgpu'));
  console.log('webgpu:', JSON.stringify(r));
  expect(r.ok, r.error).toBe(true);
  expect(r.info.name).toBe('webgpu');
  expect(r.info.software).toBe(true);
  expect(r.info.adapter).toMatch(/swiftshader/i);
  expect(r.info.reason).toMatch(/chosen by the user \(software adapter/);
  expect(r.check).toBe(14);
  expect(r.gpuErrors).toEqual([]);
});

test('forced webgl and cpu start; an unknown backend is an error', async ({ page }) => {
  const gl = await page.evaluate(() => (window as any).selftest.backend.initInWorker('webgl'));
  expect(gl.ok, gl.error).toBe(true);
  expect(gl.info).toMatchObject({ name: 'webgl', software: true });
  expect(gl.check).toBe(14);
  const cpu = await page.evaluate(() => (window as any).selftest.backend.initInWorker('cpu'));
  expect(cpu.ok, cpu.error).toBe(true);
  expect(cpu.info.name).toBe('cpu');
  const bad = await page.evaluate(() => (window as any).selftest.backend.initInWorker('tpu'));
  expect(bad).toEqual({ ok: false, error: "Unknown backend 'tpu': choose one of auto, webgpu, webgl, wasm, cpu" });
});
