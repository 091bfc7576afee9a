import { chromium } from '@playwright/test';
import { CHROMIUM_ARGS, findChromium } from '/work/main/scripts/chromium.mjs';
const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS });
const page = await browser.newPage();
await page.goto('http://localhost:4185/selftest.html');
const r = await page.evaluate(async () => {
  const a = await navigator.gpu.requestAdapter();
  const out = {};
  for (const k in a.limits) out[k] = a.limits[k];
  return out;
});
console.log(JSON.stringify(r, null, 1));
await browser.close();
