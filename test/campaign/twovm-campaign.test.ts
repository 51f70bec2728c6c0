// A small fault campaign in the twovm mode (bench/campaign/mode-twovm.js, bench/README.md "campaign"):
// a second VM with two disks in the same repository, backed up alone and at once with the first
// VM's backups, prunes and verifies, faults on either. After every step, no point of the other VM
// went, and every point of the second VM restores, both disks, to the sources' bytes when it was
// taken (a point in time across disks).

import { expect, it } from 'vitest';
import { runCampaign } from './run-campaign.js';

const SEED = 8867;
const FAULTS = 6;

it(`a campaign of ${FAULTS} faults on two VMs, one with two disks (seed ${SEED}), ends with every point of both exact`, async () => {
  const stdout = await runCampaign({ seed: SEED, faults: FAULTS, mode: 'twovm', timeoutMs: 850_000 });
  const twovm = /^twovm: cvm2 points restored and compared \(2 disks each\): (\d+); pairs across VMs: (\d+)$/m.exec(
    stdout,
  );
  expect(twovm, stdout).not.toBeNull();
  expect(Number(twovm![1])).toBeGreaterThan(0);
  expect(Number(twovm![2])).toBeGreaterThan(0);
}, 900_000);
