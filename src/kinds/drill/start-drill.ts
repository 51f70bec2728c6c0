// start-domain (drill): the drill's domain created from the point's definition, isolated
// (../../libvirt/drill-domain-xml.ts): transient, so destroying it leaves no definition behind.

import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { crashPoint } from '../../crash-points.js';
import { drillDomainXml } from '../../libvirt/drill-domain-xml.js';
import type { DrillRun } from './drill-run.js';

export const startDrill: Step<DrillRun> = {
  name: 'start-domain',
  title: (run) => `start ${run.state.domain}, isolated, on the overlays`,
  skip: (run) => run.state.nothingNew,
  facts: (run) => ({ domain: run.state.domain }),
  async run(run) {
    const { state } = run;
    let made;
    try {
      made = drillDomainXml(
        state.storedXml,
        state.domain,
        state.disks.map((disk) => ({ key: disk.key, source: disk.source, image: disk.overlay })),
        state.consoleFile,
        `sendense-run drill ${run.runId} of VM ${run.plan.vm.name}, backup ${state.backupId}`,
        state.network,
      );
    } catch (error) {
      throw new SendenseError(
        `the domain XML stored with backup ${state.backupId} cannot be used: ${(error as Error).message}`,
        { step: 'start-domain' },
      );
    }
    for (const note of made.notes) run.reporter.emit({ type: 'info', step: 'start-domain', message: note });
    state.createdAt = Date.now();
    await run.virsh.runWithXml(['create', '--file'], made.xml, `start the drill's domain ${state.domain}`);
    crashPoint('drill.domain-started');
    return `${state.domain} started from backup ${state.backupId}`;
  },
  would: (run) =>
    `virsh create ${run.state.domain || '<vm>-drill-<run>'} from the XML stored with the point: ${run.plan.drill.isolation.network === 'isolated' ? "its network interfaces on the drill's own bridge only" : 'no network interface'}, none of the original's shares, devices, files or ports, its console into the drill's directory`,
};
