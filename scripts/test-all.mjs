// `npm test`: every suite (Vitest unit tests, then Playwright browser tests against the built app and the dev
// server in the system Chromium), closing with one line `N passed, N failed` that counts them all. A test counts
// as passed only if it ran and passed, as skipped only if it asked to be skipped (a condition named in the test),
// and as failed otherwise: a file that cannot load, a setup hook that throws, a suite runner that produces no
// report, a build that fails — each counts, so a broken suite can never read as "0 failed".
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { ensureDeps } from './ensure-deps.mjs';
import { ensureChromium } from './chromium.mjs';
import { tallyPlaywright } from './test-tally.mjs';

const e2eOnly = process.argv.includes('--e2e-only');
const unitOnly = process.argv.includes('--unit-only');
const extra = process.argv.slice(2).filter((a) => !a.startsWith('--'));

ensureDeps();
mkdirSync('artifacts', { recursive: true });
const totals = { passed: 0, failed: 0, skipped: 0 };
const notes = [];
const run = (cmd, args, env = {}) => spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
const add = (suite, t) => {
  totals.passed += t.passed;
  totals.failed += t.failed;
  totals.skipped += t.skipped;
  notes.push(`${suite}: ${t.passed} passed, ${t.failed} failed${t.skipped ? `, ${t.skipped} skipped` : ''}`);
};

if (!e2eOnly) {
  const out = 'artifacts/vitest-tally.json';
  rmSync(out, { force: true });
  const r = run('npx', ['vitest', 'run', '--reporter=default', '--reporter=./scripts/vitest-tally-reporter.mjs', ...extra]);
  if (existsSync(out)) {
    const t = JSON.parse(readFileSync(out, 'utf8'));
    add('unit (Vitest)', t);
    for (const f of t.brokenFiles) console.error(`[test] a test file failed to load: ${f}`);
  } else {
    console.error('[test] vitest produced no report (exit', r.status, ')');
    add('unit (Vitest)', { passed: 0, failed: 1, skipped: 0 });
  }
}

// Python package (python/vocostudio) unit tests under Debian's interpreter with torch; a suite that cannot run
// (no torch, a module that fails to import) counts as failed.
if (!e2eOnly && !process.argv.includes('--no-python')) {
  const python = process.env.VOCO_PYTHON ?? '/usr/bin/python3';
  rmSync('artifacts/python-tests.json', { force: true });
  const r = run(python, ['python/tests/run_all.py', 'artifacts/python-tests.json'], { PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' });
  if (existsSync('artifacts/python-tests.json')) add('python (unittest)', JSON.parse(readFileSync('artifacts/python-tests.json', 'utf8')));
  else {
    console.error(`[test] python unit tests produced no report (${python} exit ${r.status ?? r.error?.message}); install python3-torch python3-numpy python3-nibabel`);
    add('python (unittest)', { passed: 0, failed: 1, skipped: 0 });
  }
}

if (!unitOnly) {
  const chromium = ensureChromium();
  const b = run('npx', ['vite', 'build', '--logLevel', 'warn']);
  if (b.status !== 0) {
    console.error('[test] vite build failed');
    add('browser (Playwright)', { passed: 0, failed: 1, skipped: 0 });
  } else {
    const out = 'artifacts/playwright.json';
    rmSync(out, { force: true });
    run('npx', ['playwright', 'test', '--reporter=list,json', ...extra], { CHROMIUM_PATH: chromium, PLAYWRIGHT_JSON_OUTPUT_NAME: out });
    if (existsSync(out)) add('browser (Playwright)', tallyPlaywright(JSON.parse(readFileSync(out, 'utf8'))));
    else {
      console.error('[test] playwright produced no report');
      add('browser (Playwright)', { passed: 0, failed: 1, skipped: 0 });
    }
  }
}

for (const n of notes) console.log(`[test] ${n}`);
console.log(`\n${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exit(totals.failed > 0 ? 1 : 0);
