// `npm test`: every suite (Vitest unit tests, then Playwright browser tests against the built app
// in the system Chromium), closing with one line `N passed, N failed` that counts them all.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { ensureDeps } from './ensure-deps.mjs';
import { ensureChromium } from './chromium.mjs';

const e2eOnly = process.argv.includes('--e2e-only');
const unitOnly = process.argv.includes('--unit-only');
const extra = process.argv.slice(2).filter((a) => !a.startsWith('--'));

ensureDeps();
mkdirSync('artifacts', { recursive: true });
const totals = { passed: 0, failed: 0, skipped: 0 };
const run = (cmd, args, env = {}) => spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });

if (!e2eOnly) {
  rmSync('artifacts/vitest.json', { force: true });
  const r = run('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', '--outputFile.json=artifacts/vitest.json', ...extra]);
  if (existsSync('artifacts/vitest.json')) {
    const j = JSON.parse(readFileSync('artifacts/vitest.json', 'utf8'));
    totals.passed += j.numPassedTests;
    totals.failed += j.numFailedTests;
    totals.skipped += j.numPendingTests + j.numTodoTests;
    // A suite that failed to load counts as a failure even if it held no test.
    const brokenFiles = (j.testResults ?? []).filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length;
    totals.failed += brokenFiles;
  } else {
    console.error('[test] vitest produced no report (exit', r.status, ')');
    totals.failed += 1;
  }
}

// Python package (python/vocostudio) unit tests under Debian's interpreter with torch; a suite that cannot run
// (no torch, a module that fails to import) counts as failed.
if (!e2eOnly && !process.argv.includes('--no-python')) {
  const python = process.env.VOCO_PYTHON ?? '/usr/bin/python3';
  rmSync('artifacts/python-tests.json', { force: true });
  const r = run(python, ['python/tests/run_all.py', 'artifacts/python-tests.json'], { PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' });
  if (existsSync('artifacts/python-tests.json')) {
    const j = JSON.parse(readFileSync('artifacts/python-tests.json', 'utf8'));
    totals.passed += j.passed;
    totals.failed += j.failed;
    totals.skipped += j.skipped;
  } else {
    console.error(`[test] python unit tests produced no report (${python} exit ${r.status ?? r.error?.message}); install python3-torch python3-numpy python3-nibabel`);
    totals.failed += 1;
  }
}

if (!unitOnly) {
  const chromium = ensureChromium();
  const b = run('npx', ['vite', 'build', '--logLevel', 'warn']);
  if (b.status !== 0) {
    console.error('[test] vite build failed');
    totals.failed += 1;
  } else {
    rmSync('artifacts/playwright.json', { force: true });
    run('npx', ['playwright', 'test', '--reporter=list,json', ...extra], {
      CHROMIUM_PATH: chromium,
      PLAYWRIGHT_JSON_OUTPUT_NAME: 'artifacts/playwright.json',
    });
    if (existsSync('artifacts/playwright.json')) {
      const s = JSON.parse(readFileSync('artifacts/playwright.json', 'utf8')).stats;
      totals.passed += s.expected + s.flaky;
      totals.failed += s.unexpected;
      totals.skipped += s.skipped;
      if ((JSON.parse(readFileSync('artifacts/playwright.json', 'utf8')).errors ?? []).length) totals.failed += 1;
    } else {
      console.error('[test] playwright produced no report');
      totals.failed += 1;
    }
  }
}

console.log(`\n${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exit(totals.failed > 0 ? 1 : 0);
