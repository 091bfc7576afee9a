// Browser test harness (selftest.html): each file beside this one exports functions that Playwright
// calls with page.evaluate(() => window.selftest.<file>.<fn>(...)). Ships in the build; the UI never links to it.
const modules = import.meta.glob('./*.ts', { eager: false });

const selftest: Record<string, unknown> = {};
(window as unknown as { selftest: typeof selftest }).selftest = selftest;

(async () => {
  for (const [path, load] of Object.entries(modules)) {
    const name = path.replace(/^\.\//, '').replace(/\.ts$/, '');
    if (name === 'main') continue;
    selftest[name] = await load();
  }
  (window as unknown as { selftestReady: boolean }).selftestReady = true;
})();
