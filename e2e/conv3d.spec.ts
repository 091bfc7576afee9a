import { expect, test } from '@playwright/test';

// 3-D convolution kernels in a real browser (Chromium, WebGPU via SwiftShader): conv3d forward + both gradients and
// a UNETR residual block forward + backward on webgpu and webgl against the cpu backend (CPU twin) in the same page.
//   npx vite build --outDir dist-conv && PW_PORT=4204 PW_OUTDIR=dist-conv PW_RESULTS=test-results-conv \
//     npx playwright test e2e/conv3d.spec.ts

type Harness = { selftest: { conv3d: typeof import('../src/selftest/conv3d') }; selftestReady?: boolean };

test.beforeEach(async ({ page }) => {
  page.on('pageerror', (err) => console.log(`[page error] ${err.message}`));
  await page.goto('/selftest.html');
  await page.waitForFunction(() => (window as unknown as Harness).selftestReady === true);
});

for (const backend of ['webgpu', 'webgl'] as const) {
  test(`conv3d and UNETR block forward + backward: ${backend} equals the CPU twin, no GPU errors`, async ({ page }, testInfo) => {
    const report = await page.evaluate((b) => (window as unknown as Harness).selftest.conv3d.conv3dParity(b), backend);
    console.log(JSON.stringify(report, null, 1));
    await testInfo.attach(`conv3d-parity-${backend}.json`, { body: JSON.stringify(report, null, 1), contentType: 'application/json' });
    expect(report.error).toBeNull();
    expect(report.ran, 'the backend that ran must be the one requested').toBe(backend);
    expect(report.gpuErrors).toEqual([]);
    // Our programs ran (not tfjs's conv): both kernels, k = 3 and 1, scalar and vec4 variants.
    if (backend === 'webgpu') {
      expect(report.programs).toEqual(expect.arrayContaining(['vocoConv3d_3_true', 'vocoConv3d_3_false', 'vocoConv3d_1_false',
        'vocoConv3dFilterGrad_3_true', 'vocoConv3dFilterGrad_3_false', 'vocoConv3dFilterGrad_1_false']));
    }
    expect(report.cases.length).toBe(7);
    expect(report.leakedTensors).toBe(0);
    for (const c of report.cases) {
      // float32 accumulation on the GPU against the twin's float64 sums (instance norm amplifies in the blocks)
      expect(c.y, `${c.name} y`).toBeLessThan(1e-4);
      expect(c.dx, `${c.name} dx`).toBeLessThan(1e-4);
      expect(c.dw, `${c.name} dw`).toBeLessThan(1e-4);
    }
  });
}
