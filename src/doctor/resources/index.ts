// Every kind of recovery resource (./resource-kind.ts), in the order doctor gives them back: nothing
// frozen a moment longer (a guest, then a VMware snapshot), a backup job before its files; a dead
// sync's point finished before checkpoints are judged (one written whole becomes the replica's
// newest point, and the checkpoint it recorded is then the one the next sync starts from); a copy's
// merge finished before its partial files go (finishing puts files in place itself); a drill's domain
// with a failover test's, its network after it; a files session, which holds nothing the others need, among the last; a failback stopped half-way is only
// reported (the next failback finishes it).

import type { RecoveryResourceKind } from './resource-kind.js';
import { copyMerge, copyPartial } from './copy-resources.js';
import { filesSession } from './files-session-resource.js';
import { backupJob, checkpoint, guestFreeze, scratchDir } from './libvirt-resources.js';
import {
  drillDomain,
  drillNetwork,
  failback,
  replicaPoint,
  restoredDomain,
  testDomain,
  vmwareSnapshot,
} from './other-resources.js';

export const RESOURCE_KINDS: readonly RecoveryResourceKind[] = [
  guestFreeze,
  vmwareSnapshot,
  backupJob,
  replicaPoint,
  checkpoint,
  scratchDir,
  testDomain,
  drillDomain,
  restoredDomain,
  drillNetwork,
  failback,
  filesSession,
  copyMerge,
  copyPartial,
].sort((a, b) => a.rank - b.rank);

export function resourceKind(kind: string): RecoveryResourceKind | undefined {
  return RESOURCE_KINDS.find((each) => each.kind === kind);
}

/** Its rank; a kind this release does not know last (it is only forgotten). */
export function rankOf(kind: string): number {
  return resourceKind(kind)?.rank ?? Number.MAX_SAFE_INTEGER;
}
