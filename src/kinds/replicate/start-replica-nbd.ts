// start-replica-nbd: one writable qemu-nbd per new layer on the replica node, on a Unix socket in
// this sync's own 0700 directory there; for a replica node over SSH, a relay on the hub from a Unix
// socket in a private directory of ours to it (docs/replication.md#the-data-path). No TCP port
// reaches a replica's qemu-nbd: another local user could write into the replica through it. The
// replica node's directory is recorded for doctor before it exists; each qemu-nbd stops when our
// end of its channel closes, so none outlives the run.

import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { DiskServer } from '../../engine/run-context.js';
import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { removeScratchDir } from '../../libvirt/scratch-dir.js';
import { makeSocketDir } from '../../qemu/socket-dir.js';
import { startHubRelay, startReplicaNbd } from '../../replica/replica-nbd.js';
import { syncSocketDir } from '../../replica/replica-layout.js';
import { execOn } from '../../replica/replica-node.js';
import { type ReplicaDiskJob, type ReplicateRun } from './replicate-run.js';

/** The hub's private directory of a sync's relay sockets (a killed run's is swept by the next). */
export const RELAY_SOCKET_DIR_PREFIX = 'sendense-relay-';

export const startReplicaNbdServers: Step<ReplicateRun> = {
  name: 'start-replica-nbd',
  title: (run) =>
    `serve ${run.state.disks.length} new layer(s) on ${run.replicaNode.description}${run.replicaNode.isLocal ? '' : ', relayed by the hub'}`,
  async run(run) {
    const exec = execOn(run.replicaNode);
    const dir = syncSocketDir(run.plan.replica.scratch, run.runId);
    const node = run.replicaNode;
    await run.store.recordNodeResource({
      runId: run.runId,
      node: node.id,
      kind: 'scratch-dir',
      name: dir,
      facts: { nodeSpec: run.plan.replica.node ?? null },
    });
    run.undo.push({
      what: `remove ${dir} on ${node.description}`,
      when: 'always',
      step: 'start-replica-nbd',
      run: async () => {
        await removeScratchDir(exec, dir);
        await run.store.forgetNodeResource(node.id, 'scratch-dir', dir);
      },
    });
    const made = await exec(['mkdir', '-m', '0700', '--', dir]);
    if (made.exitCode !== 0)
      throw new SendenseError(
        `cannot use replica.scratch ${run.plan.replica.scratch} on ${node.description}: ${made.stderr.trim()}`,
        { step: 'start-replica-nbd' },
      );
    // The relay's sockets, when the replica is elsewhere: pushed first, so undone after every relay closed.
    const relayDir = node.isLocal
      ? undefined
      : await makeSocketDir(RELAY_SOCKET_DIR_PREFIX, { sweepDeadSockets: true });
    if (relayDir !== undefined)
      run.undo.push({
        what: `remove ${relayDir}`,
        when: 'always',
        step: 'start-replica-nbd',
        run: () => rm(relayDir, { recursive: true, force: true }),
      });
    for (const disk of run.state.disks) {
      const socket = `${dir}/disk-${disk.key}.sock`;
      // The node transfer (or the tunnel from the source node) connects to disk.socket, never to a port.
      disk.socket = relayDir === undefined ? socket : path.join(relayDir, `disk-${disk.key}.sock`);
      disk.server = replicaServer(run, disk, socket);
    }
    await Promise.all(run.state.disks.map((disk) => disk.server!.start()));
    return run.state.disks
      .map((disk) =>
        relayDir === undefined
          ? `${disk.key}: ${disk.socket}`
          : `${disk.key}: hub ${disk.socket} -> ${node.description} ${dir}/disk-${disk.key}.sock`,
      )
      .join(', ');
  },
  would: (run) =>
    run.replicaNode.isLocal
      ? `qemu-nbd on a Unix socket in ${syncSocketDir(run.plan.replica.scratch, '<run-id>')} per disk`
      : `qemu-nbd on a Unix socket in ${syncSocketDir(run.plan.replica.scratch, '<run-id>')} on ${run.replicaNode.description} per disk, relayed from a Unix socket in a private directory on the hub`,
};

// A disk's qemu-nbd on the replica node and the hub's relay to it (a replica elsewhere), started and stopped together.
function replicaServer(run: ReplicateRun, disk: ReplicaDiskJob, socket: string): DiskServer {
  let running = false;
  const start = async (): Promise<boolean> => {
    if (running) return false;
    running = true;
    const nbd = await startReplicaNbd(run.replicaNode, {
      layer: disk.layer,
      socket,
      exportName: disk.exportName,
      shared: run.plan.nbd.shared,
    });
    run.undo.push({
      what: `stop qemu-nbd for ${disk.layer} on ${run.replicaNode.description}`,
      when: 'always',
      step: 'start-replica-nbd',
      run: () => nbd.stop(),
    });
    void nbd.exited.then(({ requested, said }) => {
      if (!requested)
        run.abort(
          new SendenseError(
            `qemu-nbd for ${disk.layer} on ${run.replicaNode.description} ended${said ? `: ${said}` : ''}`,
            { disk: disk.key },
          ),
        );
    });
    if (disk.socket === socket) {
      disk.target = { nbd };
      return true;
    }
    const relay = await startHubRelay(run.replicaNode, disk.socket!, socket, (error) =>
      run.abort(
        new SendenseError(`the hub cannot reach ${socket} on ${run.replicaNode.description}: ${error.message}`, {
          disk: disk.key,
        }),
      ),
    );
    run.undo.push({
      what: `close the hub's relay at ${relay.path}`,
      when: 'always',
      step: 'start-replica-nbd',
      run: () => relay.close(),
    });
    disk.target = { nbd, relay };
    return true;
  };
  return {
    start,
    stop: async () => {
      const target = disk.target;
      if (target === undefined) return;
      disk.target = undefined;
      await target.relay?.close();
      await target.nbd.stop();
    },
  };
}
