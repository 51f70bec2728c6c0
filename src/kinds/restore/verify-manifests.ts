// The restore's check against the manifests: every file of the restored point's chain (each its
// own layer) is read and compared with the digests recorded when it was taken, so with the restored
// disk equal to the chain, "identical" means identical to what was read from the source.

import { existsSync } from 'node:fs';
import type { RestoreRun } from './restore-run.js';
import { SendenseError } from '../../errors.js';
import { processStartTicks } from '../../process/index.js';
import { manifestPath } from '../../repository/manifest.js';
import { readManifest } from '../../repository/manifest-file.js';
import { verifyLayer } from '../../repository/verify-layer.js';
import { descendants } from '../../verify/verify-backups.js';

// Returns the files checked and those without a manifest (made before manifests existed).
export async function verifyChainManifests(
  run: RestoreRun,
): Promise<{ readonly checked: number; readonly withoutManifest: number }> {
  const chain = await run.store.chainOf(run.state.backupId);
  let checked = 0;
  let withoutManifest = 0;
  for (const disk of run.state.disks) {
    for (const backup of chain) {
      const recorded = backup.disks.find((d) => d.diskKey === disk.key);
      if (recorded === undefined) continue;
      const file = recorded.file;
      // Only a backup taken before manifests existed has none; one written with a manifest that lost it is damage.
      if (!recorded.manifest && !existsSync(manifestPath(file))) {
        withoutManifest++;
        continue;
      }
      const result = await readManifest(manifestPath(file)).then(
        (manifest) =>
          verifyLayer(file, manifest, {
            onSpawn: (pid, argv, startTicks) =>
              run.store
                .recordProcess(run.runId, pid, 'qemu-nbd', argv, startTicks ?? processStartTicks(pid))
                .then(() => undefined),
            onForget: (pid) => run.store.forgetProcess(pid),
          }),
        (error: unknown) => {
          if (!(error instanceof SendenseError)) throw error;
          return { findings: [{ message: error.message }] };
        },
      );
      if ('busy' in result && result.busy !== undefined)
        throw new SendenseError(`backup ${backup.id} could not be checked against its manifest: ${result.busy}`, {
          step: 'verify',
          disk: disk.key,
        });
      const finding = result.findings[0];
      if (finding !== undefined) {
        // As verify would: the backup and everything built on it are never restored or built on again.
        const builtOnIt = descendants(await run.store.listBackups({ vm: backup.vm }), backup.id);
        await run.store.markDamaged([backup.id], `restore ${run.runId} verify: disk ${disk.key}: ${finding.message}`);
        await run.store.markDamaged(builtOnIt, `built on damaged backup ${backup.id}`);
        const marked = builtOnIt.length > 0 ? `it and ${builtOnIt.join(', ')} (built on it) are` : 'it is';
        throw new SendenseError(
          `backup ${backup.id} differs from what was read from the source: ${finding.message} (${file}); ${marked} now marked damaged`,
          {
            step: 'verify',
            disk: disk.key,
          },
        );
      }
      checked++;
    }
  }
  return { checked, withoutManifest };
}
