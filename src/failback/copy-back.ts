// The copy of a failback (docs/replication.md#failback): the standby's disks, shut off, onto the
// original's own disk images. A writable qemu-nbd per original disk on the original's node, on a
// Unix socket in a 0700 directory of the run there (recorded for doctor before it exists), relayed
// by the hub when that node is reached over SSH and forwarded to the replica node, where our node
// transfer reads the standby's images: only what the merged failback bitmap marks (incremental),
// or every block, holes written as zeroes (full). The mirror of a sync's data path.

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { UndoStack } from '../engine/undo-stack.js';
import type { RunReporter } from '../engine/run-events.js';
import { SendenseError } from '../errors.js';
import { removeScratchDir } from '../libvirt/scratch-dir.js';
import type { NodeHost } from '../node/node.js';
import type { NodeSpec } from '../plan/types.js';
import { makeSocketDir } from '../qemu/socket-dir.js';
import { startHubRelay, startReplicaNbd } from '../replica/replica-nbd.js';
import { execOn } from '../replica/replica-node.js';
import type { Store } from '../store/index.js';
import { runTransfer, type TransferDiskResult } from '../transfer/run-transfer.js';
import type { TransferDisk } from '../wire/index.js';
import { FAILBACK_BITMAP } from './failback-bitmap.js';

const RELAY_DIR_PREFIX = 'sendense-relay-';

export interface CopyBackDisk {
  readonly key: number;
  /** The standby's image on the replica node (replica.path or its failover overlay). */
  readonly standby: string;
  /** The original's image on its node, written in place. */
  readonly original: string;
  readonly originalFormat: 'qcow2' | 'raw';
}

export interface CopyBackOptions {
  readonly store: Store;
  readonly runId: string;
  /** The original's node, and how doctor reaches it again. */
  readonly sourceNode: NodeHost;
  readonly sourceNodeSpec: NodeSpec | null;
  readonly replicaNode: NodeHost;
  /** Where the run's socket directory goes on the original's node. */
  readonly scratch: string;
  readonly shared: number;
  readonly incremental: boolean;
  readonly disks: readonly CopyBackDisk[];
  readonly reporter: RunReporter;
  readonly signal: AbortSignal;
  /** Each disk whose data is written and flushed. */
  onDiskDone?(key: number): void;
}

export async function copyBack(options: CopyBackOptions): Promise<readonly TransferDiskResult[]> {
  const undo = new UndoStack();
  try {
    const dir = await makeRunDir(options, undo);
    const relayDir = options.sourceNode.isLocal ? undefined : await makeRelayDir(undo);
    const hubSockets = await serveOriginals(options, dir, relayDir, undo);
    // The transfer runs beside the standby's images: on the replica node, through its own tunnel.
    const nodeSockets = await forwardToReplica(options.replicaNode, hubSockets, undo);
    const disks = options.disks.map((disk): TransferDisk => ({
      key: disk.key,
      source: { kind: 'qemu', path: disk.standby, format: 'qcow2' },
      target: {
        kind: 'nbd',
        url: `nbd+unix:///disk-${disk.key}?socket=${nodeSockets.get(hubSockets.get(disk.key)!)!}`,
      },
      ...(options.incremental ? { bitmap: FAILBACK_BITMAP } : {}),
    }));
    return await runTransfer({
      node: options.replicaNode,
      // Its own request, not transferPlan's: the data path of a sync reversed (docs/replication.md#failback).
      program: {
        kind: 'node-transfer',
        request: { jobId: options.runId, disks, digests: false, ...(options.incremental ? {} : { zeroHoles: true }) },
      },
      reporter: options.reporter,
      signal: options.signal,
      step: 'copy-back',
      onDiskDone: (key) => options.onDiskDone?.(key),
    });
  } finally {
    const failed = (await undo.unwind()).find((outcome) => outcome.error !== undefined);
    if (failed !== undefined)
      options.reporter.emit({
        type: 'warning',
        step: 'copy-back',
        message: `could not ${failed.what}: ${failed.error!.message} (sendense-run doctor gives it back)`,
      });
  }
}

// The run's 0700 socket directory on the original's node, recorded for doctor before it exists.
async function makeRunDir(options: CopyBackOptions, undo: UndoStack): Promise<string> {
  const { store, sourceNode } = options;
  const exec = execOn(sourceNode);
  const dir = `${options.scratch.replace(/\/+$/, '')}/sendense-${options.runId}-failback`;
  await store.recordNodeResource({
    runId: options.runId,
    node: sourceNode.id,
    kind: 'scratch-dir',
    name: dir,
    facts: { nodeSpec: options.sourceNodeSpec },
  });
  undo.push({
    what: `remove ${dir} on ${sourceNode.description}`,
    when: 'always',
    step: 'copy-back',
    run: async () => {
      await removeScratchDir(exec, dir);
      await store.forgetNodeResource(sourceNode.id, 'scratch-dir', dir);
    },
  });
  const made = await exec(['mkdir', '-m', '0700', '--', dir]);
  if (made.exitCode !== 0)
    throw new SendenseError(`cannot use ${options.scratch} on ${sourceNode.description}: ${made.stderr.trim()}`);
  return dir;
}

// The hub's directory for the relays to an original's node reached over SSH.
async function makeRelayDir(undo: UndoStack): Promise<string> {
  const relayDir = await makeSocketDir(RELAY_DIR_PREFIX, { sweepDeadSockets: true });
  undo.push({
    what: `remove ${relayDir}`,
    when: 'always',
    step: 'copy-back',
    run: () => rm(relayDir, { recursive: true, force: true }),
  });
  return relayDir;
}

// A writable qemu-nbd per original disk, relayed by the hub when there is a relay directory;
// the socket on the hub of each disk, by key.
async function serveOriginals(
  options: CopyBackOptions,
  dir: string,
  relayDir: string | undefined,
  undo: UndoStack,
): Promise<Map<number, string>> {
  const { sourceNode } = options;
  const hubSockets = new Map<number, string>();
  for (const disk of options.disks) {
    const socket = `${dir}/disk-${disk.key}.sock`;
    const nbd = await startReplicaNbd(sourceNode, {
      layer: disk.original,
      socket,
      exportName: `disk-${disk.key}`,
      shared: options.shared,
      format: disk.originalFormat,
    });
    undo.push({
      what: `stop qemu-nbd for ${disk.original} on ${sourceNode.description}`,
      when: 'always',
      step: 'copy-back',
      run: () => nbd.stop(),
    });
    if (relayDir === undefined) {
      hubSockets.set(disk.key, socket);
      continue;
    }
    const relay = await startHubRelay(
      sourceNode,
      path.join(relayDir, `disk-${disk.key}.sock`),
      socket,
      () => undefined,
    );
    undo.push({
      what: `close the relay at ${relay.path}`,
      when: 'always',
      step: 'copy-back',
      run: () => relay.close(),
    });
    hubSockets.set(disk.key, relay.path);
  }
  return hubSockets;
}

// Each hub socket as the replica node reaches it: itself on this host, else through a tunnel.
async function forwardToReplica(
  replicaNode: NodeHost,
  hubSockets: ReadonlyMap<number, string>,
  undo: UndoStack,
): Promise<ReadonlyMap<string, string>> {
  if (replicaNode.isLocal) return new Map([...hubSockets.values()].map((socket) => [socket, socket]));
  const forwards = await replicaNode.forwardSockets([...hubSockets.values()]);
  undo.push({
    what: `close the socket tunnel to ${replicaNode.description}`,
    when: 'always',
    step: 'copy-back',
    run: () => forwards.close(),
  });
  return forwards.nodeSockets;
}
