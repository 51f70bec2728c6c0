// verify (docs/how-it-works.md#a-verified-restore). Each restored disk is read once and checked
// against the digests its chain's manifests hold: on this host by the hub (./verify-digests.ts), on
// a node by the node transfer there (./verify-on-node.ts). When that check cannot say "equal", each restored disk is compared, on the node, with the backup
// chain as the hub's qemu-nbd serves it (through the tunnel), so the check covers the whole path,
// not just the copy; then every file of that chain is checked against its manifest's digests.

import { leasedDisks } from '../../engine/run-context.js';
import type { RestoreRun } from './restore-run.js';
import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { compareImages } from '../../qemu/index.js';
import { servedUrl } from '../../steps/serving-run.js';
import { verifyChainManifests } from './verify-manifests.js';
import { restoredEqualsDigests } from './verify-digests.js';
import { restoredEqualsDigestsOnNode } from './verify-on-node.js';
import { formatBytes } from '../../format/bytes.js';

export const verify: Step<RestoreRun> = {
  name: 'verify',
  title: (run) => `check ${run.state.disks.length} restored disk(s) against backup ${run.state.backupId}`,
  skip: (run) => (run.plan.restore.verify ? undefined : 'verify: false in the plan'),
  async run(run) {
    const read = await readOnceAgainstDigests(run);
    if (read !== undefined) {
      const where = run.node.isLocal ? '' : ` on ${run.node.description}`;
      return `${run.state.disks.length} disk(s) identical to backup ${run.state.backupId}: read once${where} (${formatBytes(read)}) and every range checked against the digests taken at backup time`;
    }
    const exec = (argv: readonly string[]) => run.node.exec(argv);
    for (const disk of leasedDisks(run.state.disks)) {
      const source = servedUrl(disk, run.node);
      const { image, format, shown } = run.target.restored(disk);
      // When the disks took turns, this one's qemu-nbd may not be running: started for this
      // comparison, and each stopped after it, so no more run at once than in the copy.
      await disk.server?.start();
      const result = await compareImages(source, image, { runner: exec, formatA: 'raw', formatB: format });
      await disk.server?.stop();
      if (result.status !== 'equal') {
        throw new SendenseError(
          `restored disk ${disk.key} (${shown}) ${result.status === 'different' ? 'differs from' : 'could not be compared with'} backup ${run.state.backupId}: ${result.detail}`,
          {
            step: 'verify',
            disk: disk.key,
          },
        );
      }
    }
    const { checked, withoutManifest } = await verifyChainManifests(run);
    const manifests =
      withoutManifest > 0
        ? `; ${withoutManifest} file(s) of the chain have no manifest (taken before manifests): compared with the chain only`
        : '';
    return `${run.state.disks.length} disk(s) identical to backup ${run.state.backupId}, ${checked} file(s) of its chain match the digests taken at backup time${manifests}`;
  },
  would: (run) =>
    run.plan.restore.verify
      ? `read each restored disk once${run.node.isLocal ? '' : ` on ${run.node.description}`} against the digests taken at backup time`
      : 'off (verify: false)',
};

// Bytes read when every disk passed the one-read check; undefined when one could not (the full comparison decides).
async function readOnceAgainstDigests(run: RestoreRun): Promise<number | undefined> {
  let total = 0;
  const check = run.node.isLocal ? restoredEqualsDigests : restoredEqualsDigestsOnNode;
  for (const disk of run.state.disks) {
    const read = await check(run, disk);
    if (read === undefined) return undefined;
    total += read;
  }
  return total;
}
