// allocate-ports: one lease per disk from nbd.ports, held in SQLite so concurrent runs and a
// crashed run's leftovers never hand out the same port twice.

import type { Step } from '../engine/step.js';
import type { ServingRun } from './serving-run.js';
import { hubPortRange } from '../hub/hub-scope.js';

export const allocatePorts: Step<ServingRun> = {
  name: 'allocate-ports',
  title: (run) => {
    const { first, last } = hubPortRange(run.diskSlots?.hub, run.plan.nbd.ports);
    return `lease ${run.state.disks.length} NBD port(s) from ${first}-${last}`;
  },
  async run(run) {
    const { first, last } = hubPortRange(run.diskSlots?.hub, run.plan.nbd.ports);
    const leased = await run.store.leasePorts({ runId: run.runId, count: run.state.disks.length, first, last });
    run.undo.push({
      what: `release port(s) ${leased.ports.join(', ')}`,
      when: 'always',
      step: 'allocate-ports',
      run: async () => {
        await run.store.releasePorts(run.runId);
      },
    });
    for (const reclaimed of leased.reclaimed) {
      run.reporter.emit({
        type: 'info',
        step: 'allocate-ports',
        message: `took back port ${reclaimed.port} from run ${reclaimed.runId} (${reclaimed.reason === 'run-ended' ? 'the run has ended' : `its process ${reclaimed.pid} is gone`})`,
      });
    }
    if (leased.busy.length > 0) {
      run.reporter.emit({
        type: 'info',
        step: 'allocate-ports',
        message: `skipped port(s) in use by other programs: ${leased.busy.join(', ')}`,
      });
    }
    run.state.disks.forEach((disk, index) => {
      disk.port = leased.ports[index];
    });
    return `ports ${run.state.disks.map((disk) => `${disk.key}:${disk.port}`).join(', ')}`;
  },
  facts: (run) => ({ disks: run.state.disks.map((disk) => ({ key: disk.key, port: disk.port })) }),
  // The ports the run would lease now (the same choice, nothing leased).
  async would(run, dry) {
    const { first, last } = run.plan.nbd.ports;
    const where = `leased in ${dry.newDatabase ? 'a new state database' : 'the state database'}`;
    // No disk resolved (the point would fail): one port per disk of whatever is restored.
    if (run.state.disks.length === 0) return `one per disk from ${first}-${last}, ${where}`;
    const ports = await run.store.leasablePorts({ count: run.state.disks.length, first, last });
    run.state.disks.forEach((disk, index) => {
      disk.port = ports[index];
    });
    const leased = run.state.disks.map((disk) => `${disk.key}:${disk.port ?? 'none free'}`).join(', ');
    return `${run.state.disks.length} port(s) from ${first}-${last} (${leased}), ${where}`;
  },
};
