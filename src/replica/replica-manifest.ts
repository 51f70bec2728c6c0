// A replica point's layer manifest (docs/replication.md#digests): `<layer>.json` beside each
// point's layer on the replica node, holding the digests of every range the sync's node transfer
// wrote into it (computed from what it read at the source, never by reading the replica back), so
// `replicas --verify` and failover can tell a layer someone else wrote into. Written atomically
// there (a temporary name, fsync, rename, the directory synced).

import { SendenseError } from '../errors.js';
import type { NodeExec } from '../libvirt/virsh.js';
import type { DiskKey } from '../plan/types.js';
import type { ManifestDigests } from '../repository/manifest.js';
import { renameTemp } from './replica-layout.js';

export const REPLICA_MANIFEST_FORMAT = 'sendense-replica-manifest';
export const REPLICA_MANIFEST_VERSION = 1;

export interface ReplicaManifest {
  readonly format: typeof REPLICA_MANIFEST_FORMAT;
  readonly version: typeof REPLICA_MANIFEST_VERSION;
  readonly plan: string;
  readonly vm: string;
  /** The point whose layer this is (after a fold: the point the older ones were folded into). */
  readonly pointId: string;
  readonly diskKey: DiskKey;
  /** The layer's file name beside this manifest. */
  readonly layer: string;
  readonly virtualSize: number;
  /** The points folded into this layer, oldest first (docs/replication.md#the-replica-on-disk). */
  readonly folded: readonly string[];
  readonly digests: ManifestDigests;
}

// <dir>/pg-2000.<point>.qcow2 -> <dir>/pg-2000.<point>.json (a layer without .qcow2: <layer>.json).
export function replicaManifestPath(layer: string): string {
  return layer.replace(/\.qcow2$/, '') + '.json';
}

// The manifest a fold writes before it commits, renamed over the next point's manifest once the fold's rename is done.
export function foldedManifestPath(layer: string): string {
  return `${replicaManifestPath(layer)}.folded`;
}

// Private like the layer, fsynced before the rename that makes it the manifest.
export async function writeReplicaManifest(exec: NodeExec, file: string, manifest: ReplicaManifest): Promise<void> {
  const result = await exec(
    [
      'sh',
      '-c',
      // The temp's name can be worked out: a symlink there is removed, never written through (docs/threat-model.md).
      'set -e; umask 077; rm -f -- "$2"; set -C; cat > "$2"; set +C; sync -- "$2"; mv -fT -- "$2" "$1"; sync -- "$(dirname -- "$1")"',
      'sh',
      file,
      renameTemp(file),
    ],
    {
      stdin: Buffer.from(`${JSON.stringify(manifest)}\n`),
    },
  );
  if (result.exitCode !== 0)
    throw new SendenseError(
      `cannot write ${file} on the replica node: ${result.stderr.trim().split('\n').pop() || `exit code ${result.exitCode}`}`,
    );
}

export type ManifestRead =
  { readonly manifest: ReplicaManifest } | { readonly missing: true } | { readonly problem: string };

// The manifest at `file` on the replica node: missing (a point made before replicas had digests), or why it cannot be used.
export async function readReplicaManifest(exec: NodeExec, file: string): Promise<ManifestRead> {
  const result = await exec([
    'sh',
    '-c',
    'if [ -e "$1" ]; then cat -- "$1"; else echo sendense-no-manifest >&2; exit 3; fi',
    'sh',
    file,
  ]);
  if (result.exitCode === 3 && result.stderr.includes('sendense-no-manifest')) return { missing: true };
  if (result.exitCode !== 0)
    return {
      problem: `cannot read ${file}: ${result.stderr.trim().split('\n').pop() || `exit code ${result.exitCode}`}`,
    };
  let parsed: Partial<ReplicaManifest>;
  try {
    parsed = JSON.parse(result.stdout) as Partial<ReplicaManifest>;
  } catch {
    return { problem: `${file} is not JSON` };
  }
  const digests = parsed.digests;
  if (
    parsed.format !== REPLICA_MANIFEST_FORMAT ||
    parsed.version !== REPLICA_MANIFEST_VERSION ||
    typeof parsed.virtualSize !== 'number' ||
    digests === undefined ||
    typeof digests.algorithm !== 'string' ||
    !Array.isArray(digests.data) ||
    !Array.isArray(digests.zero)
  ) {
    return { problem: `${file} is not a replica manifest of this version` };
  }
  return { manifest: parsed as ReplicaManifest };
}
