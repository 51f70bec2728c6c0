// create-overlays: on the node, the run's directory and one qcow2 overlay per disk whose backing is
// the point served through the tunnel (raw over NBD, on a Unix socket only the operator, root and
// libvirt's QEMU user open): the domain writes there, never into the repository. Recorded for
// doctor first; given back on failure unless a started domain uses them.

import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { letQemuOpen, qemuUsers } from '../../libvirt/qemu-user.js';
import { servedUrl } from '../../steps/serving-run.js';
import { finishRecovery } from './finish-recovery.js';
import { RECOVERY_RESOURCE, recoveredImages, type RecoverRun } from './recover-run.js';
import { createRawBackedOverlayArgv } from '../../qemu/command-lines.js';

export const createOverlays: Step<RecoverRun> = {
  name: 'create-overlays',
  title: (run) => `create ${run.state.disks.length} overlay(s) in ${run.state.overlayDir} on ${run.node.description}`,
  async run(run) {
    const { state, plan } = run;
    await run.store.recordNodeResource({
      runId: run.runId,
      node: run.node.id,
      kind: RECOVERY_RESOURCE,
      name: plan.recover.to.domain,
      facts: {
        domain: plan.recover.to.domain,
        uri: plan.recover.to.uri,
        overlayDir: state.overlayDir,
        moveStorage: plan.recover.moveStorage,
        disks: recoveredImages(run),
        nodeSpec: plan.node ?? null,
      },
    });
    run.undo.push({
      what: `remove the overlays in ${state.overlayDir} once nothing reads them`,
      when: 'always',
      step: 'create-overlays',
      run: () => giveBackOverlays(run),
    });
    // Searchable, not listable: QEMU's user reaches its overlay by name (libvirt gives it the file when the domain starts).
    const made = await run.node.exec(['mkdir', '-m', '0711', '--', state.overlayDir]);
    if (made.exitCode !== 0)
      throw new SendenseError(`cannot make ${state.overlayDir} on ${run.node.description}: ${made.stderr.trim()}`, {
        step: 'create-overlays',
      });
    // The domain's QEMU runs as libvirt's user, not ours: it alone is let into each served socket.
    const users = await qemuUsers(run.virsh);
    for (const disk of state.disks) {
      const socket = run.node.isLocal ? disk.socket : disk.nodeSocket;
      if (socket === undefined) throw new Error(`disk ${disk.key} is not served on a Unix socket`);
      await letQemuOpen((argv) => run.node.exec(argv), socket, users, run.node.description);
      const backing = servedUrl(disk, run.node);
      const created = await run.node.exec(createRawBackedOverlayArgv(disk.overlay, backing, disk.virtualSize));
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
    `qemu-img create an overlay per disk in ${run.state.overlayDir || `${run.plan.recover.to.scratch}/sendense-<run>`} on the node, backed by the served point's socket, which libvirt's QEMU user is let into (setfacl)`,
};

// Cleanup, whatever ended the run: never while a running domain reads the point (./finish-recovery.ts).
async function giveBackOverlays(run: RecoverRun): Promise<void> {
  if (run.state.released) return;
  const finished = await finishRecovery(run, 'cleanup', run.plan.recover.moveStorage);
  run.reporter.emit({ type: 'info', step: 'cleanup', message: finished.summary });
}
