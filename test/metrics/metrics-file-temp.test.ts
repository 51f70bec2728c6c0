// The metrics file is written through a temp file beside it (`.<name>.<pid>.tmp`), a name anyone
// who can write the collector's directory can guess: a symlink put there is not followed
// (docs/threat-model.md).

import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { writeMetricsFile } from '../../src/metrics/prometheus-textfile.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

it('a symlink planted under the temp name is replaced; the file it pointed to is left as it was', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sendense-metrics-temp-'));
  dirs.push(dir);
  const outside = path.join(dir, 'not-ours.conf');
  writeFileSync(outside, 'not ours\n');
  const file = path.join(dir, 'sendense.prom');
  symlinkSync(outside, path.join(dir, `.sendense.prom.${process.pid}.tmp`));
  await writeMetricsFile(file, 'sendense_up 1\n');
  expect(readFileSync(outside, 'utf8')).toBe('not ours\n');
  expect(lstatSync(file).isFile()).toBe(true);
  expect(readFileSync(file, 'utf8')).toBe('sendense_up 1\n');
  expect(statSync(file).mode & 0o777).toBe(0o644);
});
