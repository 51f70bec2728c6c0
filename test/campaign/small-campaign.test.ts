// A small fault campaign (bench/campaign, bench/README.md "campaign") on a fixed seed: kills of the
// run and of what it started, ENOSPC, flipped bytes; after each, doctor, nothing left behind and
// every complete point restoring to the source's bytes when it was taken.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const SEED = 20261126;
const FAULTS = 20;

it(`a campaign of ${FAULTS} faults (seed ${SEED}) ends with every point exact and nothing left`, async () => {
  const [first, last] = portRangeForTestFile(10);
  const args = [
    'bench/campaign/main.js',
    '--faults',
    String(FAULTS),
    '--seed',
    String(SEED),
    '--ports',
    `${first}-${last}`,
    '--quiet',
  ];
  const { stdout } = await promisify(execFile)(process.execPath, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    // Past the test's own deadline: SIGINT, on which the campaign removes its workspace.
    timeout: 1_150_000,
    killSignal: 'SIGINT',
  }).catch((error: { stdout?: string; stderr?: string }) => ({ stdout: `${error.stdout ?? ''}${error.stderr ?? ''}` }));
  const summary = stdout.trim().split('\n').at(-1) ?? '';
  expect(summary, stdout).toMatch(
    new RegExp(`^campaign: \\d+ faults, \\d+ operations, [1-9]\\d* points compared, 0 violations$`),
  );
  expect(Number(/^campaign: (\d+) faults/.exec(summary)?.[1])).toBeGreaterThanOrEqual(FAULTS);
}, 1_200_000);
