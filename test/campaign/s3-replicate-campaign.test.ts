// A small fault campaign (bench/campaign, bench/README.md "campaign") in the s3 and replicate modes
// on a fixed seed: copies to a bucket with object lock on a real radosgw, its link cut; syncs of a
// replicate plan over SSH killed; failover tests on libvirt killed or ended. After each fault,
// doctor, nothing left behind, every point fetched from the bucket and every replica point reading
// as the source did when it was taken.

import { expect, it } from 'vitest';
import { runCampaign } from './run-campaign.js';

// Its first steps: backup, s3-copy + kill-run, s3-copy + link-cut, replicate-sync, flip, backup,
// s3-copy, forget + kill-run, backup + kill-run, failover-test + kill-run.
const SEED = 20261213;
const FAULTS = 4;

it(`a campaign of ${FAULTS} faults in the s3 and replicate modes (seed ${SEED}) ends with every point exact and nothing left`, async () => {
  const stdout = await runCampaign({ seed: SEED, faults: FAULTS, mode: 's3+replicate', timeoutMs: 1_150_000 });
  // The bucket and the replica were checked: points restored from the one, read from the other.
  expect(stdout).toMatch(/points restored from the bucket \(fetched\): [1-9]/);
  expect(stdout).toMatch(/replica points compared: [1-9]/);
  expect(stdout).toMatch(
    /failover tests ended by SIGINT: \d+, killed before their domain ran: \d+, killed once it ran: \d+/,
  );
}, 1_200_000);
