// create-overlays (drill): recorded for doctor first, then the drill's own directory on the node and
// one qcow2 overlay per disk whose backing is the point served read-only through the tunnel (as
// instant recovery makes them), or a replica's point's layer on the node (as a failover test makes
// them): the guest writes there, never into the repository or the replica. Whatever ends
// the run, the domain and the directory go (./end-drill.ts).

import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { crashPoint } from '../../crash-points.js';
import { letQemuOpen, qemuUsers } from '../../libvirt/qemu-user.js';
import { servedUrl } from '../../steps/serving-run.js';
import { DRILL_RESOURCE, endDrill, type DrillDomainFacts } from '../../libvirt/drill-domain.js';
import type { DrillRun } from './drill-run.js';
import { execOn } from '../../libvirt/virsh.js';
import { createRawBackedOverlayArgv } from '../../qemu/command-lines.js';
import { createLayer } from '../../replica/replica-files.js';
import { completePoints } from '../../replica/replica-points.js';

// Over the replica point's layers, as a failover test's (created new, the layer only read). Recorded
// first, so a sync's folds leave the point alone from now (src/replica/tested-points.ts); one that
// folded it since resolve-point is found here, before anything reads it.
async function createReplicaOverlays(run: DrillRun, plan: string): Promise<void> {
  const { state } = run;
  if (!(await completePoints(run.store, plan)).some((point) => point.id === state.backupId))
    throw new SendenseError(
      `point ${state.backupId} of replicate plan ${plan} was folded into a newer one since the drill found it: run the drill again`,
      { step: 'create-overlays' },
    );
  const exec = execOn(run.node);
  for (const disk of state.disks) {
    try {
      await createLayer(exec, disk.overlay, { backing: disk.file, virtualSize: disk.virtualSize });
    } catch (error) {
      throw new SendenseError(`cannot create the overlay of disk ${disk.key}: ${(error as Error).message}`, {
        step: 'create-overlays',
        disk: disk.key,
      });
    }
  }
}

export const createDrillOverlays: Step<DrillRun> = {
  name: 'create-overlays',
  title: (run) => `create ${run.state.disks.length} overlay(s) in ${run.state.dir} on ${run.node.description}`,
  skip: (run) => run.state.nothingNew,
  async run(run) {
    const { state } = run;
    const facts: DrillDomainFacts = {
      domain: state.domain,
      uri: run.plan.drill.uri,
      dir: state.dir,
      ...(state.replica === undefined ? {} : { replicaPoint: state.backupId }),
    };
    await run.store.recordNodeResource({
      runId: run.runId,
      node: run.node.id,
      kind: DRILL_RESOURCE,
      name: state.domain,
      facts: { ...facts, nodeSpec: run.plan.node ?? null },
    });
    run.undo.push({
      what: `forget the drill's domain ${state.domain}`,
      when: 'always',
      step: 'create-overlays',
      run: () => run.store.forgetNodeResource(run.node.id, DRILL_RESOURCE, state.domain),
    });
    run.undo.push({
      what: `destroy ${state.domain} and remove ${state.dir} on ${run.node.description}`,
      when: 'always',
      step: 'create-overlays',
      run: () => endDrill((argv, options) => run.node.exec(argv, options), facts),
    });
    const made = await run.node.exec(['mkdir', '-m', '0711', '--', state.dir]);
    if (made.exitCode !== 0)
      throw new SendenseError(`cannot make ${state.dir} on ${run.node.description}: ${made.stderr.trim()}`, {
        step: 'create-overlays',
      });
    crashPoint('drill.dir-made');
    if (state.replica !== undefined) {
      await createReplicaOverlays(run, state.replica.plan);
      return state.disks.map((disk) => `${disk.key}: ${disk.overlay} over ${disk.file}`).join(', ');
    }
    const users = await qemuUsers(run.virsh);
    for (const disk of state.disks) {
      const socket = run.node.isLocal ? disk.socket : disk.nodeSocket;
      if (socket === undefined) throw new Error(`disk ${disk.key} is not served on a Unix socket`);
      await letQemuOpen((argv) => run.node.exec(argv), socket, users, run.node.description);
      const created = await run.node.exec(
        createRawBackedOverlayArgv(disk.overlay, servedUrl(disk, run.node), disk.virtualSize),
      );
      if (created.exitCode !== 0)
        throw new SendenseError(`cannot create the overlay of disk ${disk.key}: ${created.stderr.trim()}`, {
          step: 'create-overlays',
          disk: disk.key,
        });
      await run.node.exec(['chmod', '0600', '--', disk.overlay]);
    }
    return state.disks.map((disk) => `${disk.key}: ${disk.overlay}`).join(', ');
  },
  would: (run) =>
    `qemu-img create an overlay per disk in ${run.state.dir || `${run.plan.drill.scratch}/sendense-<run>`} on the node, backed by ${run.plan.drill.replica === undefined ? "the served point's socket" : "the replica point's layer there"}`,
};
