// A point's layer that a failed-over domain wrote into gets its manifest anew at failback
// (docs/replication.md#failback): the standby's writes are the VM's own data now, so the layer is
// read as it is on the replica node (alone, without its backing chain) and every range it holds
// hashed: data ranges by their bytes, zero clusters as zero ranges (they hide the point below).

import type { NodeExec } from '../libvirt/virsh.js';
import type { NodeHost } from '../node/node.js';
import { qemuImgError } from '../qemu/qemu-img-error.js';
import { normalizeDigests, type ManifestDigests } from '../repository/manifest.js';
import { RANGE_DIGEST_ALGORITHM, rangeDigest } from '../repository/range-digest.js';
import { openReplicaLayer } from './replica-layer.js';
import {
  REPLICA_MANIFEST_FORMAT,
  REPLICA_MANIFEST_VERSION,
  readReplicaManifest,
  replicaManifestPath,
  writeReplicaManifest,
  type ReplicaManifest,
} from './replica-manifest.js';
import { execOn } from './replica-node.js';
import { imageMapArgv } from '../qemu/command-lines.js';

// One digest per piece of at most this many bytes (a check reads a range whole).
const PIECE = 4 * 1024 * 1024;

export interface LayerOwner {
  readonly plan: string;
  readonly vm: string;
  readonly pointId: string;
  readonly diskKey: number;
}

// The manifest beside `layer` written from what the layer holds now; its folded points kept.
export async function rewriteLayerManifest(node: NodeHost, layer: string, owner: LayerOwner): Promise<void> {
  const exec = execOn(node);
  const file = replicaManifestPath(layer);
  const before = await readReplicaManifest(exec, file);
  const opened = await openReplicaLayer(node, layer);
  let digests: ManifestDigests;
  try {
    digests = await heldRanges(exec, layer, (offset, length) =>
      opened.image.read(offset, length, Buffer.alloc(length)),
    );
  } finally {
    await opened.close();
  }
  const manifest: ReplicaManifest = {
    format: REPLICA_MANIFEST_FORMAT,
    version: REPLICA_MANIFEST_VERSION,
    plan: owner.plan,
    vm: owner.vm,
    pointId: owner.pointId,
    diskKey: owner.diskKey,
    layer: layer.slice(layer.lastIndexOf('/') + 1),
    virtualSize: opened.image.size,
    folded: 'manifest' in before ? before.manifest.folded : [],
    digests,
  };
  await writeReplicaManifest(exec, file, manifest);
}

interface MapEntry {
  readonly start: number;
  readonly length: number;
  readonly present?: boolean;
  readonly zero: boolean;
  readonly data: boolean;
}

// What the layer alone holds (qemu-img map: "present" tells a zero cluster from a hole, which block status cannot).
async function heldRanges(
  exec: NodeExec,
  layer: string,
  read: (offset: number, length: number) => Promise<Uint8Array>,
): Promise<ManifestDigests> {
  const alone = `json:${JSON.stringify({ driver: 'qcow2', backing: null, file: { driver: 'file', filename: layer } })}`;
  const mapped = await exec(imageMapArgv(alone));
  if (mapped.exitCode !== 0) throw qemuImgError('map', layer, mapped);
  const data: [number, number, string][] = [];
  const zero: [number, number][] = [];
  for (const entry of JSON.parse(mapped.stdout) as MapEntry[]) {
    if (entry.present === false) continue;
    if (!entry.data) {
      zero.push([entry.start, entry.length]);
      continue;
    }
    for (let at = entry.start; at < entry.start + entry.length; at += PIECE) {
      const length = Math.min(PIECE, entry.start + entry.length - at);
      data.push([at, length, await rangeDigest(RANGE_DIGEST_ALGORITHM, await read(at, length))]);
    }
  }
  return normalizeDigests({ algorithm: RANGE_DIGEST_ALGORITHM, data, zero });
}
