// A small fault campaign (bench/campaign, bench/README.md "campaign") in the s3 and replicate modes
// on a fixed seed: copies to a bucket with object lock on a real radosgw, its link cut; syncs of a
// replicate plan over SSH killed; failover tests on libvirt killed or ended. After each fault,
// doctor, nothing left behind, every point fetched from the bucket and every replica point reading
// as the source did when it was taken.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

// Its first steps: backup, s3-copy + kill-run, s3-copy + link-cut, replicate-sync, flip, backup,
// s3-copy, forget + kill-run, backup + kill-run, failover-test + kill-run.
const SEED = 20261213;
const FAULTS = 6;

it(`a campaign of ${FAULTS} faults in the s3 and replicate modes (seed ${SEED}) ends with every point exact and nothing left`, async () => {
  const [first, last] = portRangeForTestFile(10);
  const args = [
    'bench/campaign/main.js',
    '--mode',
    's3+replicate',
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
  expect(summary, stdout).toMatch(/^campaign: \d+ faults, \d+ operations, [1-9]\d* points compared, 0 violations$/);
  expect(Number(/^campaign: (\d+) faults/.exec(summary)?.[1])).toBeGreaterThanOrEqual(FAULTS);
  // The bucket and the replica were checked: points restored from the one, read from the other.
  expect(stdout).toMatch(/points restored from the bucket \(fetched\): [1-9]/);
  expect(stdout).toMatch(/replica points compared: [1-9]/);
  expect(stdout).toMatch(
    /failover tests ended by SIGINT: \d+, killed before their domain ran: \d+, killed once it ran: \d+/,
  );
}, 1_200_000);
