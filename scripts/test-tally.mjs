// How `npm test` counts Playwright's JSON report, test by test: passed when it passed (or passed on retry),
// skipped only when the test itself declared the skip (a 'skip'/'fixme' annotation, e.g. test.skip(cond, why)),
// failed otherwise — tests that never ran because an earlier one or a hook failed included. Errors outside
// tests (a spec file that cannot load, a web server that does not start) count once each.
export function tallyPlaywright(report) {
  const t = { passed: 0, failed: 0, skipped: 0 };
  const walk = (suite) => {
    for (const spec of suite.specs ?? [])
      for (const test of spec.tests ?? []) {
        if (test.status === 'expected' || test.status === 'flaky') t.passed++;
        else if (test.status === 'skipped' && (test.annotations ?? []).some((a) => a.type === 'skip' || a.type === 'fixme')) t.skipped++;
        else t.failed++;
      }
    for (const s of suite.suites ?? []) walk(s);
  };
  for (const s of report.suites ?? []) walk(s);
  t.failed += (report.errors ?? []).length;
  return t;
}
