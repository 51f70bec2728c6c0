// install-point: the sync becomes the replica's newest point only here, once every disk's layer is
// written, flushed and closed: recorded as installing (doctor finishes it from there), then each
// replica.path renamed to its new layer, then complete. From now on nothing of it is undone; the
// change tracking the previous point started from is released after a successful run.

import path from 'node:path';
import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { formatDuration } from '../../format/duration.js';
import { installLayer } from '../../replica/replica-files.js';
import { backupSource } from '../../source/index.js';
import { crashPoint } from '../../crash-points.js';
import { snapshotContext } from '../backup/snapshot-source.js';
import { execOn } from '../../replica/replica-node.js';
import { type ReplicateRun } from './replicate-run.js';
import {
  REPLICA_MANIFEST_FORMAT,
  REPLICA_MANIFEST_VERSION,
  replicaManifestPath,
  writeReplicaManifest,
} from '../../replica/replica-manifest.js';
import { normalizeDigests } from '../../repository/manifest.js';

export const installPoint: Step<ReplicateRun> = {
  name: 'install-point',
  facts: ({ state }) => ({
    pointId: state.backupId,
    disks: state.disks.map((disk) => ({ key: disk.key, path: disk.replicaPath, changeId: disk.changeId ?? null })),
  }),
  title: (run) => `make point ${run.state.backupId} the replica's newest`,
  async run(run) {
    const { state, store } = run;
    for (const disk of state.disks) {
      if (disk.bytes === undefined)
        throw new SendenseError(`the transfer reported no result for disk ${disk.key}`, {
          step: 'install-point',
          disk: disk.key,
        });
    }
    const source = backupSource(run.plan.vm.source);
    // Before installing: a kill between it and the release below leaves doctor the record.
    await source.recordSuperseded?.(state.supersededBitmaps, snapshotContext(run, 'install-point'));
    // Closed before installing: everything qemu-nbd wrote is on the replica node's disk.
    for (const disk of state.disks) await disk.server?.stop();
    for (const disk of state.disks)
      await store.completeReplicaPointDisk(state.backupId, disk.key, {
        changeId: disk.changeId ?? null,
        bytes: disk.bytes ?? 0,
      });
    // Beside each layer before it can be installed: a point is never complete without its digests (docs/replication.md#digests).
    await writeLayerManifests(run);
    crashPoint('replica.sync-written');
    await store.setReplicaPointStatus(state.backupId, 'installing');
    // From here the point is finished, never undone: a failure below is finished by the next sync or doctor.
    run.undo.commit();
    const exec = execOn(run.replicaNode);
    for (const [index, disk] of state.disks.entries()) {
      await installLayer(exec, disk.layer, disk.replicaPath);
      if (index === 0) crashPoint('replica.sync-half-installed');
    }
    const total = state.disks.reduce((sum, disk) => sum + (disk.bytes ?? 0), 0);
    await store.setReplicaPointStatus(state.backupId, 'complete', {
      bytes: total,
      definition: state.definition ?? null,
    });
    if (state.supersededBitmaps.length > 0) {
      const context = snapshotContext(run, 'install-point');
      const names = [...new Set(state.supersededBitmaps.map((bitmap) => bitmap.name))].join(', ');
      context.takes(`remove superseded change tracking ${names}`, 'success', () =>
        source.releaseSuperseded(state.supersededBitmaps, context),
      );
    }
    const lag = state.takenAt === undefined ? undefined : (Date.now() - Date.parse(state.takenAt)) / 1000;
    const lagText = lag === undefined ? '' : `, lag ${formatDuration(lag)}`;
    await store.noteRun(
      run.runId,
      `replica point ${state.backupId} (${state.type}) on ${run.replicaNode.description}${lagText}`,
    );
    return `point ${state.backupId}: ${state.disks.map((disk) => disk.replicaPath).join(', ')}${lagText}`;
  },
  would: (run) =>
    `every disk written: rename each new layer to ${run.plan.replica.path} on ${run.replicaNode.description}, the newest point`,
};

// The digests the node transfer reported of what it wrote into each layer (read at the source, never from the replica).
async function writeLayerManifests(run: ReplicateRun): Promise<void> {
  const { state, plan } = run;
  const exec = execOn(run.replicaNode);
  for (const disk of state.disks) {
    if (disk.written === undefined)
      throw new SendenseError(`the transfer reported no digests for disk ${disk.key}`, {
        step: 'install-point',
        disk: disk.key,
      });
    await writeReplicaManifest(exec, replicaManifestPath(disk.layer), {
      format: REPLICA_MANIFEST_FORMAT,
      version: REPLICA_MANIFEST_VERSION,
      plan: plan.name,
      vm: plan.vm.name,
      pointId: state.backupId,
      diskKey: disk.key,
      layer: path.basename(disk.layer),
      virtualSize: disk.virtualSize,
      folded: [],
      digests: normalizeDigests(disk.written),
    });
  }
}
