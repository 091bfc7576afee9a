// A Vitest reporter that counts honestly for `npm test`: a test passes only if it ran and passed; it is skipped
// only when the test itself asked for it (skip/skipIf/todo, or ctx.skip() inside a suite that did not fail);
// everything else is a failure — including tests that never ran because their file failed to load or a
// beforeAll hook threw, and a file that failed with no test in it (counted once). Writes a JSON tally.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const failedAbove = (t) => {
  for (let p = t.parent; p; p = p.parent) if (typeof p.state === 'function' && p.state() === 'failed') return true;
  return false;
};

export default class TallyReporter {
  constructor(options = {}) {
    this.outputFile = options.outputFile ?? process.env.VOCO_TALLY_OUT ?? 'artifacts/vitest-tally.json';
  }

  onTestRunEnd(testModules, unhandledErrors) {
    const tally = { passed: 0, failed: 0, skipped: 0, brokenFiles: [], failedTests: [], unhandledErrors: unhandledErrors.length };
    for (const m of testModules) {
      let notPassed = 0;
      for (const t of m.children.allTests()) {
        const r = t.result();
        const deliberate = t.options.mode === 'skip' || t.options.mode === 'todo';
        if (r.state === 'passed') tally.passed++;
        else if (r.state === 'skipped' && (deliberate || !failedAbove(t))) tally.skipped++;
        else {
          tally.failed++;
          notPassed++;
          tally.failedTests.push(`${m.moduleId}: ${t.fullName}`);
        }
      }
      if (m.state() === 'failed' && notPassed === 0) {
        tally.failed++;
        tally.brokenFiles.push(m.moduleId);
      }
    }
    if (unhandledErrors.length) tally.failed++;
    mkdirSync(dirname(this.outputFile), { recursive: true });
    writeFileSync(this.outputFile, JSON.stringify(tally, null, 2));
  }
}
