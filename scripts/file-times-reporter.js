// A vitest reporter for scripts/test-times.js: each test file's whole time, its import, set-up
// and hooks (beforeAll: a backup, a guest boot, a package install) included, which the JSON
// report's start and end times leave out. Writes { "files": { "<absolute file>": seconds } } to
// $SENDENSE_FILE_TIMES when the run ends, with the run's test counts and each failure named (its
// file, its test or hook, the first line of its error): scripts/test-all.sh prints those at the end,
// where a failed hook (no "Failed Tests" block, only "Failed Suites") would otherwise go unnamed.
//   vitest run --reporter=default --reporter=./scripts/file-times-reporter.js

import { writeFileSync } from 'node:fs';

export default class FileTimesReporter {
  onTestRunEnd(testModules) {
    const out = process.env.SENDENSE_FILE_TIMES;
    if (!out) return;
    const files = {};
    const tests = { passed: 0, failed: 0, skipped: 0 };
    const failures = [];
    const firstLine = (error) =>
      String(error?.message ?? error ?? '')
        .split('\n')[0]
        .slice(0, 300);
    for (const testModule of testModules) {
      const { environmentSetupDuration, prepareDuration, collectDuration, setupDuration, duration } =
        testModule.diagnostic();
      files[testModule.moduleId] =
        (environmentSetupDuration + prepareDuration + collectDuration + setupDuration + duration) / 1000;
      for (const test of testModule.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed' || state === 'failed') tests[state] += 1;
        else tests.skipped += 1;
        if (state === 'failed')
          failures.push({
            file: testModule.moduleId,
            test: test.fullName,
            error: firstLine(test.result().errors?.[0]),
          });
      }
      // Errors outside any test: a describe's beforeAll or afterAll hook (its tests are then
      // skipped, so it counts as one failure of its own), the file's import, its top-level hooks.
      for (const suite of testModule.children.allSuites())
        for (const error of suite.errors()) {
          tests.failed += 1;
          failures.push({ file: testModule.moduleId, test: `${suite.fullName} (a hook)`, error: firstLine(error) });
        }
      // A file that failed outside its tests and suites (an import, a top-level beforeAll) counts
      // as one failure.
      const fileErrors = testModule.errors();
      for (const error of fileErrors)
        failures.push({ file: testModule.moduleId, test: '(the file, outside any test)', error: firstLine(error) });
      if (fileErrors.length > 0) tests.failed += 1;
    }
    writeFileSync(out, `${JSON.stringify({ files, tests, failures }, null, 1)}\n`);
  }
}
