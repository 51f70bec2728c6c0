// define-domain: the new domain, from the XML stored with the point (renamed, new UUID and MACs,
// each disk on its overlay) or from the plan's minimal definition, with recover.to.changes made
// (memory, vCPUs, networks). Undefined again on failure
// only while it has never been started.

import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import {
  cloneDomainXml,
  minimalDomainXml,
  withoutHostResources,
  type ClonedDomain,
  type RecoveredDisk,
} from '../../libvirt/recovered-domain-xml.js';
import { applyDomainChanges } from '../../libvirt/domain-changes.js';
import type { RecoverRun } from './recover-run.js';

export const defineDomain: Step<RecoverRun> = {
  name: 'define-domain',
  title: (run) => `define domain ${run.plan.recover.to.domain} on ${run.node.description}`,
  facts: (run) => ({
    domain: run.plan.recover.to.domain,
    disks: run.state.disks.map((disk) => ({ key: disk.key, target: disk.target })),
  }),
  async run(run) {
    const { domain } = run.plan.recover.to;
    const made = newDefinition(run);
    for (const disk of run.state.disks) disk.target = made.targets.get(disk.key);
    for (const note of made.notes) run.reporter.emit({ type: 'info', step: 'define-domain', message: note });
    run.undo.push({
      what: `undefine domain ${domain} unless it runs`,
      when: 'failure',
      step: 'define-domain',
      run: async () => {
        // Not there (the define failed) or running (started after all): nothing to give back.
        const state = await run.virsh.attempt(['domstate', domain]);
        if (state.exitCode !== 0 || !/^(shut off|crashed)$/.test(state.stdout.trim())) return;
        await run.virsh.run(
          ['undefine', domain, ...(run.plan.recover.to.definition?.firmware === 'efi' ? ['--nvram'] : [])],
          `undefine domain ${domain}`,
        );
      },
    });
    await run.virsh.runWithXml(['define', '--file'], made.xml, `define domain ${domain}`);
    return `${domain}: ${run.state.disks.map((disk) => `${disk.target} on ${disk.overlay}`).join(', ')}`;
  },
  would: (run) =>
    `virsh define ${run.plan.recover.to.domain} (${run.state.storedXml === undefined ? "the plan's definition" : 'the stored XML, new name, UUID and MACs'}), each disk on its overlay`,
};

function newDefinition(run: RecoverRun): ClonedDomain {
  const { to } = run.plan.recover;
  const disks = run.state.disks.map((disk) => ({ key: disk.key, source: disk.source, image: disk.overlay }));
  try {
    const made = madeDefinition(run, disks);
    if (to.changes === undefined) return made;
    const changed = applyDomainChanges(made.xml, to.changes);
    return { ...made, xml: changed.xml, notes: [...made.notes, ...changed.notes] };
  } catch (error) {
    throw new SendenseError(
      `the domain XML stored with backup ${run.state.backupId} cannot be used: ${(error as Error).message}`,
      { step: 'define-domain' },
    );
  }
}

function madeDefinition(run: RecoverRun, disks: readonly RecoveredDisk[]): ClonedDomain {
  const { to } = run.plan.recover;
  if (run.state.storedXml === undefined) return minimalDomainXml(to.domain, to.definition!, disks);
  const cloned = cloneDomainXml(run.state.storedXml, to.domain, disks);
  // It may run beside the original: none of its shares, files, devices or ports.
  const beside = withoutHostResources(cloned.xml);
  return { ...cloned, xml: beside.xml, notes: [...cloned.notes, ...beside.notes] };
}
