// `serve`'s work (docs/instant-recovery.md): each disk of a point exported over NBD by its own
// qemu-nbd, read-only or over an overlay: on a Unix socket in a private directory (reached from a
// private socket on the node through the SSH tunnel when served on a node), or with --tcp on a
// leased port of the hub's range behind NBD TLS with a pre-shared key of this serve. No other user
// can open either. All it takes is recorded under the run (leases, processes, overlays, the key
// file) so doctor ends a killed serve's, and given back by stop(), newest first.

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { UndoStack, type UndoOutcome } from '../engine/undo-stack.js';
import { SendenseError } from '../errors.js';
import { createLocalNode } from '../node/local.js';
import type { NodeHost } from '../node/node.js';
import type { DiskKey, NodeSpec, RestorePoint } from '../plan/types.js';
import { describeNbdAddress } from '../nbd/index.js';
import { chainSecret } from '../qemu/image-opts.js';
import { makeSocketDir, SERVE_SOCKET_DIR_PREFIX } from '../qemu/socket-dir.js';
import { findPoint } from '../repository/find-point.js';
import type { Backup, Store } from '../store/index.js';
import { startDiskExport, type ServeEndpoint } from './serve-disk.js';
import { createServeOverlay } from './serve-overlay.js';
import { createServePsk, type ServePsk } from './serve-psk.js';

export interface ServeRequest {
  readonly vm: string;
  readonly point: RestorePoint;
  /** Undefined: every disk of the point. */
  readonly disks?: readonly DiskKey[];
  /** Writable: each disk behind an overlay in this directory (see overlay-dir.ts); undefined: read-only. */
  readonly overlayDir?: string;
  /** The hub's NBD port range (--tcp). */
  readonly ports: { readonly first: number; readonly last: number };
  /** On leased ports with NBD TLS (a client that needs a port); default: Unix sockets. */
  readonly tcp?: boolean;
  /** Undefined: this host. */
  readonly node?: NodeSpec;
  /** NBD clients at once per disk (default SERVE_CLIENTS). */
  readonly shared?: number;
}

export interface ServedDisk {
  readonly key: DiskKey;
  /** nbd+unix:///NAME?socket=PATH, or nbds://sendense@127.0.0.1:PORT/NAME?tls-psk-file=FILE, as reached where it is served. */
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
  /** --tcp: the key file clients need (on this host) and its TLS user. */
  readonly tls?: { readonly pskFile: string; readonly username: string };
  /** Resolves with the error of the first qemu-nbd that exits unasked. */
  readonly died: Promise<SendenseError>;
  /** Gives back everything, newest first: qemu-nbd stopped by PID, tunnel, overlays, leases. */
  stop(): Promise<readonly UndoOutcome[]>;
}

export const SERVE_CLIENTS = 8;

// `note` hears what is worth a line (a lease taken back from a dead run).
export async function servePoint(
  store: Store,
  runId: string,
  request: ServeRequest,
  signal: AbortSignal,
  note: (line: string) => void = () => {},
): Promise<Serving> {
  const undo = new UndoStack();
  let died: (error: SendenseError) => void = () => {};
  const death = new Promise<SendenseError>((resolve) => (died = resolve));
  try {
    const { backup, disks } = await findPoint(store, {
      vm: request.vm,
      point: request.point,
      disks: request.disks,
      reader: 'serve',
    });
    // An encrypted point's key, before anything is taken: a missing or wrong one is one line (exit 2).
    for (const disk of disks) chainSecret(disk.file);
    signal.throwIfAborted();
    const node = request.node === undefined ? createLocalNode() : await connectNode(request.node, undo);
    signal.throwIfAborted();
    const endpoints =
      request.tcp === true
        ? await tcpEndpoints(store, runId, request.ports, disks.length, undo, note)
        : await socketEndpoints(undo);
    const served: Omit<ServedDisk, 'url'>[] = [];
    for (const [index, disk] of disks.entries()) {
      signal.throwIfAborted();
      const overlay =
        request.overlayDir === undefined
          ? undefined
          : await createServeOverlay(store, runId, request.overlayDir, disk, undo);
      const exported = {
        key: disk.key,
        file: overlay ?? disk.file,
        writable: overlay !== undefined,
        endpoint: endpoints.endpoint(index, disk.key),
        exportName: disk.exportName,
      };
      await startDiskExport(store, runId, { ...exported, shared: request.shared ?? SERVE_CLIENTS }, undo, died);
      served.push({
        key: disk.key,
        file: disk.file,
        ...(overlay === undefined ? {} : { overlay }),
        writable: overlay !== undefined,
      });
    }
    signal.throwIfAborted();
    const urls = await tunnel(
      node,
      disks.map((disk, index) => endpoints.endpoint(index, disk.key)),
      undo,
      died,
    );
    const url = (index: number) => urlOf(urls[index]!, disks[index]!.exportName, endpoints.psk);
    return Object.freeze({
      backup,
      disks: Object.freeze(served.map((disk, index) => Object.freeze({ ...disk, url: url(index) }))),
      where: node.description,
      ...(endpoints.psk === undefined
        ? {}
        : { tls: Object.freeze({ pskFile: endpoints.psk.file, username: endpoints.psk.username }) }),
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
  undo.push({
    what: `close the SSH connection to ${node.description}`,
    when: 'always',
    step: 'serve',
    run: () => node.close(),
  });
  return node;
}

interface Endpoints {
  endpoint(index: number, key: DiskKey): ServeEndpoint;
  readonly psk?: ServePsk;
}

// A Unix socket per disk in a new private (0700) directory, removed after every qemu-nbd stopped.
async function socketEndpoints(undo: UndoStack): Promise<Endpoints> {
  const dir = await makeSocketDir(SERVE_SOCKET_DIR_PREFIX, { sweepDeadSockets: true });
  undo.push({
    what: `remove ${dir}`,
    when: 'always',
    step: 'serve',
    run: () => rm(dir, { recursive: true, force: true }),
  });
  return { endpoint: (_index, key) => ({ socket: path.join(dir, `disk-${key}.sock`) }) };
}

// --tcp: a leased port per disk, every one behind TLS with this serve's own pre-shared key.
async function tcpEndpoints(
  store: Store,
  runId: string,
  ports: ServeRequest['ports'],
  count: number,
  undo: UndoStack,
  note: (line: string) => void,
): Promise<Endpoints> {
  const leased = await store.leasePorts({ runId, count, ...ports });
  undo.push({
    what: `release port(s) ${leased.ports.join(', ')}`,
    when: 'always',
    step: 'serve',
    run: async () => void (await store.releasePorts(runId)),
  });
  for (const reclaimed of leased.reclaimed)
    note(
      `took back port ${reclaimed.port} from run ${reclaimed.runId} (${reclaimed.reason === 'run-ended' ? 'it has ended' : 'its process is gone'})`,
    );
  const psk = await createServePsk(store, runId, undo);
  return { endpoint: (index) => ({ port: leased.ports[index]!, tlsPskDir: psk.dir }), psk };
}

type Reached = { readonly socket: string } | { readonly port: number };

function urlOf(reached: Reached, exportName: string, psk: ServePsk | undefined): string {
  if ('socket' in reached) return describeNbdAddress({ kind: 'unix', socketPath: reached.socket, exportName });
  // libnbd's form (nbdinfo, nbdcopy, nbdfuse); QEMU takes the same key with tls-creds-psk (docs/instant-recovery.md#serving-on-a-port).
  return `nbds://${psk!.username}@127.0.0.1:${reached.port}/${encodeURIComponent(exportName)}?tls-psk-file=${psk!.file}`;
}

// Each endpoint as reached where it is served: itself on this host; on a node, a socket in a
// private directory there, or the leased port on the node's 127.0.0.1 (TLS end to end).
// `died` hears the tunnel's connection being lost: the URLs printed no longer answer on the node.
async function tunnel(
  node: NodeHost,
  endpoints: readonly ServeEndpoint[],
  undo: UndoStack,
  died: (error: SendenseError) => void,
): Promise<readonly Reached[]> {
  if (node.isLocal) return endpoints;
  const lost = (error: SendenseError) =>
    died(
      new SendenseError(
        `the tunnel to ${node.description} is gone (${error.message}): its URLs no longer answer; serving stopped`,
      ),
    );
  const sockets = endpoints.flatMap((endpoint) => ('socket' in endpoint ? [endpoint.socket] : []));
  if (sockets.length === endpoints.length) {
    const forwards = await node.forwardSockets(sockets);
    undo.push({
      what: `close the tunnel to ${node.description}`,
      when: 'always',
      step: 'serve',
      run: () => forwards.close(),
    });
    forwards.onLost?.(lost);
    return sockets.map((socket) => ({ socket: forwards.nodeSockets.get(socket)! }));
  }
  const ports = endpoints.map((endpoint) => ('port' in endpoint ? endpoint.port : 0));
  const forwards = await node.forwardPorts(ports);
  undo.push({
    what: `close the tunnel to ${node.description}`,
    when: 'always',
    step: 'serve',
    run: () => forwards.close(),
  });
  forwards.onLost?.(lost);
  return ports.map((port) => ({ port: forwards.nodePorts.get(port) ?? port }));
}
