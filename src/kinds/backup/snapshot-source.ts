// snapshot-source: the point in time of this backup, on every disk of the VM before any is read
// (a new dirty bitmap on each qemu image; a libvirt backup job with a new checkpoint), given back
// again if the backup fails. What the source takes on the node is recorded for doctor first.

import type { SourceRun } from './backup-run.js';
import type { Step } from '../../engine/step.js';
import { execOn } from '../../libvirt/virsh.js';
import { backupSource, type SnapshotContext } from '../../source/index.js';

export const snapshotSource: Step<SourceRun> = {
  name: 'snapshot-source',
  facts: ({ state }) => ({
    disks: state.disks.map((disk) => ({ key: disk.key, changeId: disk.changeId ?? null })),
    ...(state.snapshotFacts ?? {}),
  }),
  title: (run) => backupSource(run.plan.vm.source).snapshotTitle,
  skip: (run) => backupSource(run.plan.vm.source).whyNoSnapshot(run.state.disks),
  async run(run) {
    const source = backupSource(run.plan.vm.source);
    const taken = await source.snapshot(run.state.disks, snapshotContext(run, 'snapshot-source'));
    run.state.snapshotFacts = taken.facts;
    if (taken.note !== undefined) await run.store.noteRun(run.runId, taken.note);
    return taken.summary;
  },
  would: (run) => backupSource(run.plan.vm.source).describeSnapshot(run.state.disks),
};

// What a source may take on the node in this run, registered on the run's undo stack and in the state database.
export function snapshotContext(run: SourceRun, step: string): SnapshotContext {
  const node = run.node;
  const nodeSpec = run.plan.node ?? null;
  return {
    exec: execOn(node),
    runId: run.runId,
    backupId: run.state.backupId,
    takes: (what, when, undo) => run.undo.push({ what, when, step, run: undo }),
    record: (kind, name, facts) =>
      run.store.recordNodeResource({ runId: run.runId, node: node.id, kind, name, facts: { ...facts, nodeSpec } }),
    forget: (kind, name) => run.store.forgetNodeResource(node.id, kind, name),
    rememberCheckpointDomain: (uri, domain) =>
      run.store.recordCheckpointDomain({ node: node.id, nodeSpec, uri, domain, vm: run.plan.vm.name }),
    async giveBackLeftovers(match) {
      // doctor's sweep of every resource kind, loaded only by a source that asks for it
      // (bench/README.md#the-clis-start-issue-80).
      const { giveBackLeftovers } = await import('../../doctor/node-resources.js');
      const findings = await giveBackLeftovers(run.store, node, (resource) => match(resource.kind, resource.facts));
      return findings.map((finding) => `${finding.what}: ${finding.action}`);
    },
    warn: (message) => run.reporter.emit({ type: 'warning', step, message }),
    info: (message) => run.reporter.emit({ type: 'info', step, message }),
    spawn(argv) {
      const child = node.spawn(argv);
      return { write: (text) => child.write?.(text), stop: () => child.stop() };
    },
  };
}
