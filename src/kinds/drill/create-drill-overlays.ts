// create-overlays (drill): recorded for doctor first, then the drill's own directory on the node and
// one qcow2 overlay per disk whose backing is the point served read-only through the tunnel (as
// instant recovery makes them): the guest writes there, never into the repository. Whatever ends
// the run, the domain and the directory go (./end-drill.ts).

import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { crashPoint } from '../../crash-points.js';
import { letQemuOpen, qemuUsers } from '../../libvirt/qemu-user.js';
import { servedUrl } from '../../steps/serving-run.js';
import { DRILL_RESOURCE, endDrill, type DrillDomainFacts } from '../../libvirt/drill-domain.js';
import type { DrillRun } from './drill-run.js';
import { createRawBackedOverlayArgv } from '../../qemu/command-lines.js';

export const createDrillOverlays: Step<DrillRun> = {
  name: 'create-overlays',
  title: (run) => `create ${run.state.disks.length} overlay(s) in ${run.state.dir} on ${run.node.description}`,
  skip: (run) => run.state.nothingNew,
  async run(run) {
    const { state } = run;
    const facts: DrillDomainFacts = { domain: state.domain, uri: run.plan.drill.uri, dir: state.dir };
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
    `qemu-img create an overlay per disk in ${run.state.dir || `${run.plan.drill.scratch}/sendense-<run>`} on the node, backed by the served point's socket`,
};
