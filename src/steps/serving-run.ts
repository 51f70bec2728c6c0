// What the steps that serve a run's disks on the hub (or relay them to a replica node) share (allocate-ports, start-qemu-nbd,
// open-tunnel), whatever the kind: each disk's file, its export, its port and its qemu-nbd.

import type { DiskServer, Resolved, RunContext } from '../engine/run-context.js';
import { describeNbdAddress } from '../nbd/index.js';
import type { BackupPlan, DiskKey, DiskRestorePlan, DrillPlan, RecoverPlan, ReplicatePlan } from '../plan/types.js';

export interface ServedDisk {
  readonly key: DiskKey;
  /** The qcow2 file served (a backup's new file, or the point a restore reads through its chain). */
  readonly file: string;
  readonly exportName: string;
  /** Leased by allocate-ports. */
  port?: number;
  /** The port that reaches it from the node (open-tunnel). */
  nodePort?: number;
  /** The Unix socket that reaches `socket` from the node, in a private directory there (open-tunnel; `socket` itself on this host). */
  nodeSocket?: string;
  /** Its qemu-nbd listens on this Unix socket instead of the port: reached there on this host, through the port forwarded to it from a node (start-qemu-nbd, docs/how-it-works.md#the-data-path). */
  socket?: string;
  /** Its qemu-nbd on the hub (start-qemu-nbd). */
  server?: DiskServer;
  /** Written through QEMU's compress filter (a backup in a zstd repository, docs/encryption.md#compression). */
  compress?: boolean;
  /** Written by the node transfer on this host straight into the file (docs/how-it-works.md#a-local-full-backup): never served by qemu-nbd. */
  copiedHere?: boolean;
}

export interface ServingRun
  extends
    RunContext<BackupPlan | DiskRestorePlan | RecoverPlan | ReplicatePlan | DrillPlan>,
    Resolved<{ readonly disks: readonly ServedDisk[] }> {
  /** Its transfer takes the whole VM at once (the VMware client): the disks never take turns in the hub's slots. */
  readonly wholeVm?: boolean;
}

/** A disk's export as the node transfer reaches it: its Unix socket on this host or the node's (open-tunnel), else the node's port or the hub's. */
export function servedUrl(
  {
    exportName,
    socket,
    port,
    nodePort,
    nodeSocket,
  }: Pick<ServedDisk, 'exportName' | 'socket' | 'port' | 'nodePort' | 'nodeSocket'>,
  node: { readonly isLocal: boolean },
): string {
  if (node.isLocal && socket !== undefined) return describeNbdAddress({ kind: 'unix', socketPath: socket, exportName });
  if (nodeSocket !== undefined) return describeNbdAddress({ kind: 'unix', socketPath: nodeSocket, exportName });
  return describeNbdAddress({ kind: 'tcp', host: '127.0.0.1', port: nodePort ?? port!, exportName });
}
