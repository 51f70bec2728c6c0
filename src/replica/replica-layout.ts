// Names on the replica node (docs/replication.md#the-replica-on-disk): `replica.path` is always the
// newest complete point; every point also has its own layer file beside it, named by its id, whose
// backing file is the point before it; a sync's NBD sockets live in a directory of its own.

import path from 'node:path';
import type { DiskKey } from '../plan/types.js';

// replica.path for one disk.
export function replicaDiskPath(template: string, key: DiskKey): string {
  return template.replaceAll('{key}', String(key));
}

// /images/pg-replica-2000.qcow2 -> /images/pg-replica-2000.<point>.qcow2 (else <path>.<point>).
export function layerFile(replicaPath: string, pointId: string): string {
  return replicaPath.endsWith('.qcow2')
    ? `${replicaPath.slice(0, -'.qcow2'.length)}.${pointId}.qcow2`
    : `${replicaPath}.${pointId}`;
}

// The overlay a failover from an older point (or a test) starts the domain on.
export function failoverOverlay(replicaPath: string, pointId: string, test: boolean): string {
  return layerFile(replicaPath, `${test ? 'test' : 'failover'}-${pointId}`);
}

// Whether `image` is replica.path itself or a failover overlay beside it (failoverOverlay, not a test's).
export function isReplicaImage(image: string, replicaPath: string): boolean {
  return image === replicaPath || image.startsWith(`${replicaPath.replace(/\.qcow2$/, '')}.failover-`);
}

// A name in the same directory that a rename can move over `file` atomically.
export function renameTemp(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.sendense-tmp`);
}

// Not the source's own run directory (a libvirt job's), which may share the scratch directory on one host.
export function syncSocketDir(scratch: string, runId: string): string {
  return `${scratch.replace(/\/+$/, '')}/sendense-${runId}-replica`;
}
