// A small fault campaign (bench/campaign, bench/README.md "campaign") in the libvirt mode on a
// fixed seed: the busybox guest backed up live (pull-mode jobs, checkpoints), runs killed and
// libvirtd restarted during backups. After each fault, doctor, then: the domain running and
// thawed, no job, no checkpoint but the newest complete point's, nothing left in the scratch
// directory, every complete point restoring to the guest disk's bytes when it was taken.

import { it } from 'vitest';
import { runCampaign } from './run-campaign.js';

const SEED = 20261128;
const FAULTS = 4;

it(`a campaign of ${FAULTS} faults on a live libvirt domain (seed ${SEED}) ends with every point exact and nothing left`, async () => {
  await runCampaign({ seed: SEED, faults: FAULTS, mode: 'libvirt', timeoutMs: 580_000 });
}, 600_000);
