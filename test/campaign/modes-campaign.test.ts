// A small fault campaign (bench/campaign, bench/README.md "campaign") in every mode at once on a
// fixed seed: an encrypted repository with key add/remove killed, the state in a real PostgreSQL
// stopped and started during runs, copies over SSH to a real sshd with sessions cut, two runs of
// the VM at once. After each fault, doctor, nothing left behind, every complete point restoring
// to the source's bytes when it was taken, from the repository and from the copy.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const SEED = 20261127;
const FAULTS = 8;

it(`a campaign of ${FAULTS} faults in every mode (seed ${SEED}) ends with every point exact and nothing left`, async () => {
  const [first, last] = portRangeForTestFile(10);
  const args = [
    'bench/campaign/main.js',
    '--mode',
    'encrypted+postgres+copy+concurrent',
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
    // Past the test's own deadline: SIGINT, on which the campaign removes its workspace and stops its servers.
    timeout: 1_150_000,
    killSignal: 'SIGINT',
  }).catch((error: { stdout?: string; stderr?: string }) => ({ stdout: `${error.stdout ?? ''}${error.stderr ?? ''}` }));
  const summary = stdout.trim().split('\n').at(-1) ?? '';
  expect(summary, stdout).toMatch(
    new RegExp(`^campaign: \\d+ faults, \\d+ operations, [1-9]\\d* points compared, 0 violations$`),
  );
  expect(Number(/^campaign: (\d+) faults/.exec(summary)?.[1])).toBeGreaterThanOrEqual(FAULTS);
  // The copy was checked: some point restored from it alone.
  expect(stdout).toMatch(/points compared: \d+ restored from the repository, [1-9]\d* from the copy/);
}, 1_200_000);
