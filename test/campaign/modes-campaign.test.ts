// A small fault campaign (bench/campaign, bench/README.md "campaign") in every mode at once on a
// fixed seed: an encrypted repository with key add/remove killed, the state in a real PostgreSQL
// stopped and started during runs, copies over SSH to a real sshd with sessions cut, two runs of
// the VM at once. After each fault, doctor, nothing left behind, every complete point restoring
// to the source's bytes when it was taken, from the repository and from the copy.

import { expect, it } from 'vitest';
import { runCampaign } from './run-campaign.js';

const SEED = 20261127;
const FAULTS = 8;

it(`a campaign of ${FAULTS} faults in every mode (seed ${SEED}) ends with every point exact and nothing left`, async () => {
  const stdout = await runCampaign({
    seed: SEED,
    faults: FAULTS,
    mode: 'encrypted+postgres+copy+concurrent',
    timeoutMs: 1_150_000,
  });
  // The copy was checked: some point restored from it alone.
  expect(stdout).toMatch(/points compared: \d+ restored from the repository, [1-9]\d* from the copy/);
}, 1_200_000);
