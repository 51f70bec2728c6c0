// A vitest reporter for scripts/test-times.js: each test file's whole time, its import, set-up
// and hooks (beforeAll: a backup, a guest boot, a package install) included, which the JSON
// report's start and end times leave out. Writes { "files": { "<absolute file>": seconds } } to
// $SENDENSE_FILE_TIMES when the run ends.
//   vitest run --reporter=default --reporter=./scripts/file-times-reporter.js

import { writeFileSync } from 'node:fs';

export default class FileTimesReporter {
  onTestRunEnd(testModules) {
    const out = process.env.SENDENSE_FILE_TIMES;
    if (!out) return;
    const files = {};
    const tests = { passed: 0, failed: 0, skipped: 0 };
    for (const testModule of testModules) {
      const { environmentSetupDuration, prepareDuration, collectDuration, setupDuration, duration } =
        testModule.diagnostic();
      files[testModule.moduleId] =
        (environmentSetupDuration + prepareDuration + collectDuration + setupDuration + duration) / 1000;
      for (const test of testModule.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed' || state === 'failed') tests[state] += 1;
        else tests.skipped += 1;
      }
      // A file that failed outside its tests (an import, a beforeAll) counts as one failure.
      if (
        testModule.state() === 'failed' &&
        ![...testModule.children.allTests()].some((test) => test.result().state === 'failed')
      )
        tests.failed += 1;
    }
    writeFileSync(out, `${JSON.stringify({ files, tests }, null, 1)}\n`);
  }
}
