// dev: run a few bench calls against the preview on 4185
import { chromium } from '@playwright/test';
import { CHROMIUM_ARGS, findChromium } from '/work/main/scripts/chromium.mjs';
const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS });
const page = await browser.newPage();
page.on('console', (m) => m.type() !== 'log' && console.log('[console]', m.type(), m.text().slice(0, 300)));
page.on('pageerror', (e) => console.log('[pageerror]', e.message));
await page.goto('http://localhost:4185/selftest.html');
await page.waitForFunction(() => window.selftestReady === true);
const script = process.argv[2];
const r = await page.evaluate(new Function(`return (async () => { const b = window.selftest.bench; ${script} })()`));
console.log(JSON.stringify(r, null, 1));
await browser.close();
