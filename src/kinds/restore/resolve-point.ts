// resolve-point: which complete backup a restore reads (latest, an id, or the newest complete
// backup at or before a time) and which of its disks; refuses anything it cannot restore exactly.

import type { RestoreRun } from './restore-run.js';
import type { Step } from '../../engine/step.js';
import { isSendenseError } from '../../errors.js';
import { refuseInsideRepository } from '../../repository/containing-repository.js';
import { describePoint, findPoint } from '../../repository/find-point.js';
import type { Backup } from '../../store/index.js';

export const resolvePoint: Step<RestoreRun> = {
  name: 'resolve-point',
  facts: ({ state }) => ({
    backupId: state.backupId,
    disks: state.disks.map((disk) => ({ key: disk.key, file: disk.file })),
  }),
  title: (run) => `find restore point ${describeRestorePoint(run)} of ${run.plan.vm.name}`,
  async run(run) {
    const backup = await resolveRestorePoint(run);
    await refuseTargetsInRepositories(run);
    return `backup ${backup.id} (${backup.type}, taken ${backup.startedAt}), disk(s) ${run.state.disks.map((disk) => disk.key).join(', ')}`;
  },
  // The same resolver as the run (a remote node is not contacted: its targets are checked at run time).
  async would(run) {
    try {
      const backup = await resolveRestorePoint(run);
      if (run.node.isLocal) await refuseTargetsInRepositories(run);
      return `point ${describeRestorePoint(run)}: backup ${backup.id} (${backup.type}, ${backup.status}, ${backup.startedAt})`;
    } catch (error) {
      if (!isSendenseError(error)) throw error;
      // Nothing resolved: the next steps say what they would do with no disk.
      if (!run.resolved) run.state = { backupId: '', disks: [] };
      return { does: `point ${describeRestorePoint(run)}: would FAIL: ${error.message}`, fails: true };
    }
  },
};

// The complete backup the plan's point names, its whole chain checked, and the disks restored:
// the run and the dry run resolve the point here.
async function resolveRestorePoint(run: RestoreRun): Promise<Backup> {
  const { plan } = run;
  const request = {
    vm: plan.vm.name,
    point: plan.restore.point,
    disks: plan.restore.disks,
    repository: plan.repository.path,
    reader: 'resolve-point',
    step: 'resolve-point',
  };
  // Chosen: the run's end names it even when one of its disks is refused next.
  const { backup, disks } = await findPoint(
    run.store,
    request,
    (chosen) => (run.state = { backupId: chosen.id, disks: [] }),
  );
  run.state = { backupId: backup.id, disks };
  return backup;
}

// Before anything is taken: a restore never writes inside a repository (it would overwrite
// backups that the state database still calls complete), this hub's or any marked one.
async function refuseTargetsInRepositories(run: RestoreRun): Promise<void> {
  await run.target.refuseInRepositories(run, (file, what) =>
    refuseInsideRepository(run.node, run.store, file, what, run.plan.repository.path),
  );
}

function describeRestorePoint(run: RestoreRun): string {
  return describePoint(run.plan.restore.point);
}
