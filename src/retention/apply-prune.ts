// Carries out retention by points: every unkept point merged into the next point of its chain
// (oldest first, so each merge sees the chain as the last one left it), or removed when it is the
// newest of an older chain (its bitmap or libvirt checkpoint on the source with it). Stops at the first failure, or between two merges when `signal` is
// aborted (a merge under way always finishes): what is done is done, the rest stays.

import { rm } from 'node:fs/promises';
import { requireRealPointDirs } from '../repository/private-dirs.js';
import { domainDefinitionFile } from '../repository/layout.js';
import { performance } from 'node:perf_hooks';
import { manifestPath } from '../repository/manifest.js';
import type { Store } from '../store/index.js';
import { LOCAL_NODE_ID } from '../node/node.js';
import { crashPoint } from '../crash-points.js';
import { endSessionsOf } from '../files/session/session-record.js';
import { mergePoint } from './merge-point.js';
import { releasePointBitmaps } from './point-bitmaps.js';
import { recordPointCheckpoints, releasePointCheckpoints } from '../checkpoints/point-checkpoint.js';
import { describeDecision, type PointDecision } from './prune-choice.js';

// The run_files kind of a removed point's files: doctor deletes them if the run dies before it does.
const REMOVED_POINT_FILE = 'removed point file';

export interface PruneSummary {
  readonly kept: number;
  readonly merged: number;
  readonly removed: number;
  /** Bytes copied and zeroed by the merges: the work done, proportional to the merged layers. */
  readonly copiedBytes: number;
  /** Wall-clock seconds of the merges and removals. */
  readonly seconds: number;
}

// `done`: told of each point merged or removed, as it is (forget reports it its own way).
export async function applyPrune(
  store: Store,
  runId: string,
  decisions: readonly PointDecision[],
  say: (line: string) => void = () => {},
  signal?: AbortSignal,
  done: (decision: PointDecision) => void = (decision) => say(`done: ${describeDecision(decision)}`),
): Promise<PruneSummary> {
  let merged = 0;
  let removed = 0;
  let copiedBytes = 0;
  const started = performance.now();
  // No files session reads a point while it is merged or removed (docs/file-level-restore.md#files-sessions).
  for (const vm of new Set(decisions.filter((d) => d.action !== 'keep').map((d) => d.backup.vm)))
    for (const line of await endSessionsOf(store, vm)) say(line);
  for (const decision of decisions) {
    if (decision.action === 'keep') continue;
    signal?.throwIfAborted();
    // Re-read: an earlier merge may have changed this point's parent or type.
    const backup = (await store.getBackup(decision.backup.id))!;
    // Nothing outside the repository through a symlink in place of one of its folders (docs/threat-model.md).
    const child = decision.action === 'merge' ? (await store.getBackup(decision.into))! : undefined;
    for (const point of child === undefined ? [backup] : [backup, child]) await requireRealPointDirs(point);
    if (decision.action === 'merge') {
      const outcome = await mergePoint(store, runId, backup, child!);
      copiedBytes += outcome.copied + outcome.zeroed;
      merged++;
    } else {
      // The record first, the files noted as this run's: killed before they are all deleted, doctor
      // deletes the rest; a point is never complete without its files (docs/how-it-works.md#retention).
      const files = backup.disks.flatMap((disk) => [manifestPath(disk.file), disk.file]);
      const domain = domainDefinitionFile(backup.repository, backup.vm, backup.id);
      const checkpoints = await recordPointCheckpoints(store, runId, backup);
      await store.removePoint(backup.id, {
        runId,
        node: LOCAL_NODE_ID,
        kind: REMOVED_POINT_FILE,
        paths: [...files, domain],
      });
      for (const file of files) await rm(file, { force: true });
      crashPoint('prune.removed');
      await rm(domain, { force: true });
      for (const file of [...files, domain]) await store.forgetRunFile(LOCAL_NODE_ID, file);
      for (const line of await releasePointBitmaps(backup)) say(line);
      for (const line of await releasePointCheckpoints(store, checkpoints)) say(line);
      removed++;
    }
    done(decision);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    kept: decisions.filter((decision) => decision.action === 'keep').length,
    merged,
    removed,
    copiedBytes,
    seconds,
  };
}
