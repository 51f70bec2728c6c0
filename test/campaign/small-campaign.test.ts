// A small fault campaign (bench/campaign, bench/README.md "campaign") on a fixed seed: kills of the
// run and of what it started, ENOSPC, flipped bytes; after each, doctor, nothing left behind and
// every complete point restoring to the source's bytes when it was taken.

import { it } from 'vitest';
import { runCampaign } from './run-campaign.js';

const SEED = 20261126;
const FAULTS = 12;

it(`a campaign of ${FAULTS} faults (seed ${SEED}) ends with every point exact and nothing left`, async () => {
  await runCampaign({ seed: SEED, faults: FAULTS, timeoutMs: 1_150_000 });
}, 1_200_000);
