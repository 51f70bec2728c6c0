// define-replica-domain: the replica domain on the replica node, its disks on replica.path (the
// newest point), replica.changes made, defined the first time and again whenever the VM's
// definition or replica.changes changed; never started.

import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { unmatchedMoves } from '../../libvirt/domain-changes.js';
import { changedParts, defineReplicaDomain, replicaDomainXml } from '../../libvirt/replica-domain.js';
import { describeInterfaceNetwork } from '../../plan/domain-changes.js';
import { virshOn } from '../../libvirt/virsh.js';
import { backupSource } from '../../source/index.js';
import { execOn } from '../../replica/replica-node.js';
import { type ReplicateRun } from './replicate-run.js';

export const defineReplicaDomainStep: Step<ReplicateRun> = {
  name: 'define-replica-domain',
  title: (run) => `define the replica domain ${run.plan.replica.domain ?? ''} on ${run.replicaNode.description}`,
  skip: (run) => (run.plan.replica.domain === undefined ? 'the plan names no replica domain' : undefined),
  async run(run) {
    const domain = run.plan.replica.domain!;
    const source = backupSource(run.plan.vm.source);
    const made = (() => {
      try {
        return replicaDomainXml({
          domain,
          stored: run.state.definition,
          definition: run.plan.replica.definition,
          changes: run.plan.replica.changes,
          disks: run.state.disks.map((disk) => ({
            key: disk.key,
            source: source.label(disk),
            image: disk.replicaPath,
          })),
        });
      } catch (error) {
        throw new SendenseError(`cannot make the replica domain's definition: ${(error as Error).message}`, {
          step: 'define-replica-domain',
          cause: error,
        });
      }
    })();
    for (const note of made.notes) run.reporter.emit({ type: 'info', step: 'define-replica-domain', message: note });
    warnUnmatchedNetworks(run);
    const virsh = virshOn(execOn(run.replicaNode), run.plan.replica.uri);
    const previous = run.state.parentId === undefined ? undefined : await run.store.getReplicaPoint(run.state.parentId);
    const state = await defineReplicaDomainIfChanged(
      run,
      virsh,
      made.xml,
      domain,
      previous === undefined ? undefined : (previous.definition ?? ''),
    );
    return `${domain}: ${state}`;
  },
  would: (run) =>
    run.plan.replica.domain === undefined
      ? 'nothing (no replica domain)'
      : `virsh define ${run.plan.replica.domain} on ${run.replicaNode.description} when it is missing or the VM's definition changed`,
};

async function defineReplicaDomainIfChanged(
  run: ReplicateRun,
  virsh: ReturnType<typeof virshOn>,
  xml: string,
  domain: string,
  previousDefinition: string | undefined,
): Promise<string> {
  const exists = (await virsh.attempt(['domstate', domain])).exitCode === 0;
  // The previous point's definition is what the domain was defined from (its own sync did it);
  // replica.changes may have changed since: then memory, vCPUs or networks differ.
  const sameVm = previousDefinition === (run.state.definition ?? '');
  const changesHold =
    exists &&
    changedParts(await virsh.run(['dumpxml', '--inactive', domain], `read the definition of ${domain}`)) ===
      changedParts(xml);
  if (exists && sameVm && changesHold) return 'unchanged';
  const done = await defineReplicaDomain(
    virsh,
    xml,
    domain,
    run.state.disks.map((disk) => disk.replicaPath),
  );
  if (done === 'defined') return 'defined (not started)';
  return sameVm ? 'updated to replica.changes (not started)' : "updated to the VM's new definition (not started)";
}

// A network key of replica.changes that names no interface of the VM: said each sync, the replica kept in sync all the same.
function warnUnmatchedNetworks(run: ReplicateRun): void {
  const moves = run.plan.replica.changes?.network ?? [];
  const definition = run.state.definition;
  if (moves.length === 0 || definition === undefined || run.plan.replica.definition?.use === 'plan') return;
  const unmatched = unmatchedMoves(definition, moves);
  if (unmatched.length > 0)
    run.reporter.emit({
      type: 'warning',
      step: 'define-replica-domain',
      message: `replica.changes.network: the VM's definition has no interface on ${unmatched.map(describeInterfaceNetwork).join(' or ')}`,
    });
}
