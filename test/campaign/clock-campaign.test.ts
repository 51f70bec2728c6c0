// A small fault campaign in the clock mode (bench/campaign/mode-clock.js, bench/README.md "campaign"):
// the hub's clock set back and forward between runs and under a running `sendense-run schedule`.
// After each jump, doctor, nothing left behind, every complete point restoring to the source's
// bytes when it was taken; a backup that succeeded keeps its point (retention counts points in the
// order taken, not by the clock); a scheduler never runs a time twice.

import { expect, it } from 'vitest';
import { runCampaign } from './run-campaign.js';

const SEED = 7764;
const FAULTS = 6;

it(`a campaign of ${FAULTS} faults with clock jumps (seed ${SEED}) ends with every point exact and nothing left`, async () => {
  const stdout = await runCampaign({ seed: SEED, faults: FAULTS, mode: 'clock', timeoutMs: 850_000 });
  // The clock did jump, both ways, and a scheduler ran through a jump.
  const clock = /^clock: jumps back (\d+), forward (\d+); schedules stopped (\d+)/m.exec(stdout);
  expect(clock, stdout).not.toBeNull();
  expect(Number(clock![1]) + Number(clock![2])).toBeGreaterThan(0);
  expect(Number(clock![3])).toBeGreaterThan(0);
}, 900_000);
