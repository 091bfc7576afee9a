import { expect, test } from '@playwright/test';

test('the studio page is cross-origin isolated and has WebGPU and WebGL2', async ({ page }) => {
  await page.goto('/');
  await expect(page.locator('h1')).toHaveText('VoCo Studio');
  const facts = await page.evaluate(async () => {
    const adapter = await navigator.gpu?.requestAdapter();
    const gl = document.createElement('canvas').getContext('webgl2');
    return { isolated: self.crossOriginIsolated, webgpu: !!adapter, webgl2: !!gl };
  });
  expect(facts).toEqual({ isolated: true, webgpu: true, webgl2: true });
});
