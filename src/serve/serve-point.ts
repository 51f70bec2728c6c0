// `serve`'s work (docs/instant-recovery.md): each disk of a point exported over NBD by its own
// qemu-nbd on a leased port of the hub's range, read-only or over an overlay, and through the SSH
// tunnel when served on a node. All it takes is recorded under the run (leases, processes,
// overlays) so doctor ends a killed serve's, and given back by stop(), newest first.

import { UndoStack, type UndoOutcome } from '../engine/undo-stack.js';
import { SendenseError } from '../errors.js';
import { createLocalNode } from '../node/local.js';
import type { NodeHost } from '../node/node.js';
import type { DiskKey, NodeSpec, RestorePoint } from '../plan/types.js';
import { chainSecret } from '../qemu/image-opts.js';
import { findPoint } from '../repository/find-point.js';
import type { Backup, Store } from '../store/index.js';
import { startDiskExport } from './serve-disk.js';
import { createServeOverlay } from './serve-overlay.js';

export interface ServeRequest {
  readonly vm: string;
  readonly point: RestorePoint;
  /** Undefined: every disk of the point. */
  readonly disks?: readonly DiskKey[];
  /** Writable: each disk behind an overlay in this directory (see overlay-dir.ts); undefined: read-only. */
  readonly overlayDir?: string;
  /** The hub's NBD port range. */
  readonly ports: { readonly first: number; readonly last: number };
  /** Undefined: this host. */
  readonly node?: NodeSpec;
  /** NBD clients at once per disk (default SERVE_CLIENTS). */
  readonly shared?: number;
}

export interface ServedDisk {
  readonly key: DiskKey;
  /** nbd://127.0.0.1:PORT/NAME, as reached where it is served (the node's port through the tunnel). */
  readonly url: string;
  /** The point's file in the repository. */
  readonly file: string;
  /** Where the writes go (writable only). */
  readonly overlay?: string;
  readonly writable: boolean;
}

export interface Serving {
  readonly backup: Backup;
  readonly disks: readonly ServedDisk[];
  /** "this host" or user@host:port. */
  readonly where: string;
  /** Resolves with the error of the first qemu-nbd that exits unasked. */
  readonly died: Promise<SendenseError>;
  /** Gives back everything, newest first: qemu-nbd stopped by PID, tunnel, overlays, leases. */
  stop(): Promise<readonly UndoOutcome[]>;
}

export const SERVE_CLIENTS = 8;

// `note` hears what is worth a line (a lease taken back from a dead run).
export async function servePoint(store: Store, runId: string, request: ServeRequest, signal: AbortSignal, note: (line: string) => void = () => {}): Promise<Serving> {
  const undo = new UndoStack();
  let died: (error: SendenseError) => void = () => {};
  const death = new Promise<SendenseError>((resolve) => (died = resolve));
  try {
    const { backup, disks } = await findPoint(store, { vm: request.vm, point: request.point, disks: request.disks, reader: 'serve' });
    // An encrypted point's key, before anything is taken: a missing or wrong one is one line (exit 2).
    for (const disk of disks) chainSecret(disk.file);
    signal.throwIfAborted();
    const node = request.node === undefined ? createLocalNode() : await connectNode(request.node, undo);
    signal.throwIfAborted();
    const leased = await store.leasePorts({ runId, count: disks.length, ...request.ports });
    undo.push({ what: `release port(s) ${leased.ports.join(', ')}`, when: 'always', step: 'serve', run: async () => void (await store.releasePorts(runId)) });
    for (const reclaimed of leased.reclaimed) note(`took back port ${reclaimed.port} from run ${reclaimed.runId} (${reclaimed.reason === 'run-ended' ? 'it has ended' : 'its process is gone'})`);
    const served: Omit<ServedDisk, 'url'>[] = [];
    for (const [index, disk] of disks.entries()) {
      signal.throwIfAborted();
      const overlay = request.overlayDir === undefined ? undefined : await createServeOverlay(store, runId, request.overlayDir, disk, undo);
      const exported = { key: disk.key, file: overlay ?? disk.file, writable: overlay !== undefined, port: leased.ports[index]!, exportName: disk.exportName };
      await startDiskExport(store, runId, { ...exported, shared: request.shared ?? SERVE_CLIENTS }, undo, died);
      served.push({ key: disk.key, file: disk.file, ...(overlay === undefined ? {} : { overlay }), writable: overlay !== undefined });
    }
    signal.throwIfAborted();
    const nodePorts = await tunnel(node, leased.ports, undo, died);
    const url = (index: number) => `nbd://127.0.0.1:${nodePorts.get(leased.ports[index]!) ?? leased.ports[index]}/${disks[index]!.exportName}`;
    return Object.freeze({
      backup,
      disks: Object.freeze(served.map((disk, index) => Object.freeze({ ...disk, url: url(index) }))),
      where: node.description,
      died: death,
      stop: () => undo.unwind(),
    });
  } catch (error) {
    // What was taken is given back; what cannot be stays recorded for doctor.
    await undo.unwind();
    throw error;
  }
}

// The node over SSH (known_hosts checked), closed last.
async function connectNode(spec: NodeSpec, undo: UndoStack): Promise<NodeHost> {
  const { connectSshNode } = await import('../node/ssh.js');
  const node = await connectSshNode(spec);
  undo.push({ what: `close the SSH connection to ${node.description}`, when: 'always', step: 'serve', run: () => node.close() });
  return node;
}

// Exactly the leased ports, made reachable as 127.0.0.1:<node port> on the node; none for this host.
// `died` hears the tunnel's connection being lost: the URLs printed no longer answer on the node.
async function tunnel(node: NodeHost, ports: readonly number[], undo: UndoStack, died: (error: SendenseError) => void): Promise<ReadonlyMap<number, number>> {
  if (node.isLocal) return new Map();
  const forwards = await node.forwardPorts(ports);
  undo.push({ what: `close the tunnel to ${node.description}`, when: 'always', step: 'serve', run: () => forwards.close() });
  forwards.onLost?.((error) => died(new SendenseError(`the tunnel to ${node.description} is gone (${error.message}): its URLs no longer answer; serving stopped`)));
  return forwards.nodePorts;
}
