// A small fault campaign (bench/campaign, bench/README.md "campaign") in the libvirt mode on a
// fixed seed: the busybox guest backed up live (pull-mode jobs, checkpoints), runs killed and
// libvirtd restarted during backups. After each fault, doctor, then: the domain running and
// thawed, no job, no checkpoint but the newest complete point's, nothing left in the scratch
// directory, every complete point restoring to the guest disk's bytes when it was taken.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const SEED = 20261128;
const FAULTS = 6;

it(`a campaign of ${FAULTS} faults on a live libvirt domain (seed ${SEED}) ends with every point exact and nothing left`, async () => {
  const [first, last] = portRangeForTestFile(10);
  const args = [
    'bench/campaign/main.js',
    '--mode',
    'libvirt',
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
    // Past the test's own deadline: SIGINT, on which the campaign removes its guest and workspace.
    timeout: 580_000,
    killSignal: 'SIGINT',
  }).catch((error: { stdout?: string; stderr?: string }) => ({ stdout: `${error.stdout ?? ''}${error.stderr ?? ''}` }));
  const summary = stdout.trim().split('\n').at(-1) ?? '';
  expect(summary, stdout).toMatch(
    new RegExp(`^campaign: \\d+ faults, \\d+ operations, [1-9]\\d* points compared, 0 violations$`),
  );
  expect(Number(/^campaign: (\d+) faults/.exec(summary)?.[1])).toBeGreaterThanOrEqual(FAULTS);
}, 600_000);
