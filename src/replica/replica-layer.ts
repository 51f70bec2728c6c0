// A replica point's own layer read where it is (docs/replication.md#digests): a read-only qemu-nbd on
// the replica node, on a Unix socket in a private directory there, its backing chain left out
// (qemu's "backing": null); for a replica node over SSH the hub's relay to it, as in a sync. Used to
// check a layer against its manifest, and by a fold to hash the older point's ranges it cuts.

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { SendenseError } from '../errors.js';
import { BASE_ALLOCATION, NbdConnection } from '../nbd/index.js';
import type { NodeHost } from '../node/node.js';
import { makeSocketDir } from '../qemu/socket-dir.js';
import { nbdImage, type ReadableImage } from '../repository/readable-image.js';
import { isKnownDigestAlgorithm } from '../repository/range-digest.js';
import { checkLayer, type LayerResult } from '../repository/verify-layer.js';
import { startHubRelay, startReplicaNbd } from './replica-nbd.js';
import type { ReplicaManifest } from './replica-manifest.js';
import { execOn } from './replica-node.js';

export interface OpenReplicaLayer {
  readonly image: ReadableImage;
  close(): Promise<void>;
}

const RELAY_DIR_PREFIX = 'sendense-relay-';

export async function openReplicaLayer(node: NodeHost, layer: string): Promise<OpenReplicaLayer> {
  const exec = execOn(node);
  const made = await exec(['mktemp', '-d', '/tmp/sendense-check-XXXXXX']);
  if (made.exitCode !== 0)
    throw new SendenseError(`cannot make a private directory on ${node.description}: ${made.stderr.trim()}`);
  const dir = made.stdout.trim();
  const undo: (() => Promise<unknown>)[] = [() => exec(['rm', '-rf', '--', dir])];
  const close = async () => {
    for (const step of undo.reverse()) await step().catch(() => undefined);
  };
  try {
    const socket = `${dir}/layer.sock`;
    const own = `json:${JSON.stringify({ driver: 'qcow2', backing: null, file: { driver: 'file', filename: layer } })}`;
    const nbd = await startReplicaNbd(node, { layer: own, socket, exportName: 'layer', shared: 2, readOnly: true });
    undo.push(() => nbd.stop());
    let socketPath = socket;
    if (!node.isLocal) {
      const relayDir = await makeSocketDir(RELAY_DIR_PREFIX, { sweepDeadSockets: true });
      undo.push(() => rm(relayDir, { recursive: true, force: true }));
      const relay = await startHubRelay(node, path.join(relayDir, 'layer.sock'), socket, () => undefined);
      undo.push(() => relay.close());
      socketPath = relay.path;
    }
    const connection = await NbdConnection.connect(
      { kind: 'unix', socketPath, exportName: 'layer' },
      { metaContexts: [BASE_ALLOCATION] },
    );
    undo.push(() => connection.close());
    return { image: nbdImage(connection), close };
  } catch (error) {
    await close();
    throw error;
  }
}

// One layer against its manifest: its size, every digest, zeroes elsewhere (as verify checks a backup file).
export async function checkReplicaLayer(
  node: NodeHost,
  layer: string,
  manifest: ReplicaManifest,
): Promise<LayerResult> {
  if (!isKnownDigestAlgorithm(manifest.digests.algorithm)) {
    return {
      findings: [
        {
          message: `the manifest's digests are ${JSON.stringify(manifest.digests.algorithm)}, an algorithm this sendense-run does not know`,
        },
      ],
      digestsChecked: false,
      bytesRead: 0,
    };
  }
  const opened = await openReplicaLayer(node, layer);
  try {
    return await checkLayer(opened.image, manifest, { writer: 'the sync' });
  } finally {
    await opened.close();
  }
}
