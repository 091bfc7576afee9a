// `npm test` counts every test that did not pass as failed: a broken setup or a file that cannot load must turn
// the final line red. Runs Vitest with the project's tally reporter on a deliberately broken mini-suite, and
// feeds the Playwright tally synthetic reports.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tallyPlaywright } from '../scripts/test-tally.mjs';

const ROOT = resolve(import.meta.dirname, '..');

describe('the Vitest tally reporter', () => {
  it('counts tests behind a failed beforeAll and a file that fails to load as failed', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'tally-')), 'tally.json');
    const r = spawnSync(
      'npx',
      ['vitest', 'run', '--config', 'test/tally-fixtures/vitest.config.ts', '--reporter', resolve(ROOT, 'scripts/vitest-tally-reporter.mjs')],
      { cwd: ROOT, env: { ...process.env, VOCO_TALLY_OUT: out }, encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status).not.toBe(0);
    const t = JSON.parse(readFileSync(out, 'utf8'));
    expect({ passed: t.passed, failed: t.failed, skipped: t.skipped }).toEqual({ passed: 1, failed: 3, skipped: 1 });
    expect(t.brokenFiles.some((f: string) => f.endsWith('import-throws.fixture.ts'))).toBe(true);
    expect(t.failedTests.filter((f: string) => f.includes('never runs'))).toHaveLength(2);
  });
});

describe('the Playwright tally', () => {
  const test = (status: string, annotations: { type: string }[] = []) => ({ status, annotations });
  it('counts declared skips as skipped and tests that never ran as failed', () => {
    const report = {
      suites: [
        {
          specs: [{ tests: [test('expected'), test('flaky'), test('unexpected')] }],
          suites: [{ specs: [{ tests: [test('skipped', [{ type: 'skip' }]), test('skipped'), test('skipped', [{ type: 'issue' }])] }] }],
        },
      ],
      errors: [{ message: 'Error: spec file failed to load' }],
    };
    expect(tallyPlaywright(report)).toEqual({ passed: 2, failed: 4, skipped: 1 });
  });
  it('an empty report with a global error is a failure, not a pass', () => {
    expect(tallyPlaywright({ suites: [], errors: [{ message: 'webServer did not start' }] })).toEqual({ passed: 0, failed: 1, skipped: 0 });
  });
});
