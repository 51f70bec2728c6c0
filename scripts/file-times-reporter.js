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
    for (const testModule of testModules) {
      const { environmentSetupDuration, prepareDuration, collectDuration, setupDuration, duration } = testModule.diagnostic();
      files[testModule.moduleId] = (environmentSetupDuration + prepareDuration + collectDuration + setupDuration + duration) / 1000;
    }
    writeFileSync(out, `${JSON.stringify({ files }, null, 1)}\n`);
  }
}
