// Runs a small fault campaign (bench/campaign, bench/README.md "campaign") the way the CI test files
// do: the built CLI, a port range of the test file's own, --quiet; returns its output and its
// summary line after checking it says 0 violations, some points compared and at least `faults`.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

export async function runCampaign(options: {
  readonly seed: number;
  readonly faults: number;
  readonly mode?: string;
  /** When the campaign gets SIGINT (it then removes its workspace and stops its servers). */
  readonly timeoutMs: number;
}): Promise<string> {
  const [first, last] = portRangeForTestFile(10);
  const args = [
    'bench/campaign/main.js',
    ...(options.mode === undefined ? [] : ['--mode', options.mode]),
    '--faults',
    String(options.faults),
    '--seed',
    String(options.seed),
    '--ports',
    `${first}-${last}`,
    '--quiet',
  ];
  const { stdout } = await promisify(execFile)(process.execPath, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: options.timeoutMs,
    killSignal: 'SIGINT',
  }).catch((error: { stdout?: string; stderr?: string }) => ({ stdout: `${error.stdout ?? ''}${error.stderr ?? ''}` }));
  const summary = stdout.trim().split('\n').at(-1) ?? '';
  expect(summary, stdout).toMatch(/^campaign: \d+ faults, \d+ operations, [1-9]\d* points compared, 0 violations$/);
  expect(Number(/^campaign: (\d+) faults/.exec(summary)?.[1])).toBeGreaterThanOrEqual(options.faults);
  return stdout;
}
