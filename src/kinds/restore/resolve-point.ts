// resolve-point: which complete backup a restore reads (latest, an id, or the newest complete
// backup at or before a time) and which of its disks; refuses anything it cannot restore exactly.

import type { RestoreRun } from './restore-run.js';
import type { Step } from '../../engine/step.js';
import { SendenseError, isSendenseError } from '../../errors.js';
import { refuseInsideRepository } from '../../repository/containing-repository.js';
import { exportName } from '../../repository/layout.js';
import { chainFileProblem, describeChainFileProblem } from '../../repository/chain-files.js';
import type { Backup } from '../../store/index.js';
import { refuseUnfinishedMerge } from '../../retention/unfinished-merge.js';

export const resolvePoint: Step<RestoreRun> = {
  name: 'resolve-point',
  facts: ({ state }) => ({ backupId: state.backupId, disks: state.disks.map((disk) => ({ key: disk.key, file: disk.file })) }),
  title: (run) => `find restore point ${describePoint(run)} of ${run.plan.vm.name}`,
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
      return `point ${describePoint(run)}: backup ${backup.id} (${backup.type}, ${backup.status}, ${backup.startedAt})`;
    } catch (error) {
      if (!isSendenseError(error)) throw error;
      // Nothing resolved: the next steps say what they would do with no disk.
      if (!run.resolved) run.state = { backupId: '', disks: [] };
      return `point ${describePoint(run)}: would FAIL: ${error.message}`;
    }
  },
};

// The complete backup the plan's point names, its whole chain checked, and the disks restored:
// the run and the dry run resolve the point here.
async function resolveRestorePoint(run: RestoreRun): Promise<Backup> {
  const { plan, store } = run;
  // Never read through a merge: one recorded for this VM is going on or waits for doctor.
  await refuseUnfinishedMerge(store, plan.vm.name, 'resolve-point');
  const backup = await findBackup(run);
  const chain = await store.chainOf(backup.id);
  for (const link of chain) {
    if (link.status !== 'complete') fail(`backup ${link.id} in the chain of ${backup.id} is ${link.status}, not complete`);
  }
  const problem = chainFileProblem(chain);
  if (problem !== undefined) fail(describeChainFileProblem(problem));
  const wanted = plan.restore.disks ?? backup.disks.map((disk) => disk.diskKey);
  // Chosen: the run's end names it even when one of its disks is refused next.
  run.state = { backupId: backup.id, disks: [] };
  const disks = wanted.map((key) => {
    const disk = backup.disks.find((d) => d.diskKey === key);
    if (disk === undefined) {
      fail(`backup ${backup.id} has no disk ${key} (it has ${backup.disks.map((d) => d.diskKey).join(', ')})`);
    }
    return { key, file: disk.file, virtualSize: disk.virtualSize, exportName: exportName(plan.vm.name, key) };
  });
  run.state = { backupId: backup.id, disks };
  return backup;
}

async function findBackup(run: RestoreRun): Promise<Backup> {
  const { plan, store } = run;
  const point = plan.restore.point;
  const vm = plan.vm.name;
  const repository = plan.repository.path;
  if (point.type === 'id') {
    const backup = await store.getBackup(point.id);
    if (backup === undefined || backup.vm !== vm) fail(`there is no backup '${point.id}' of VM ${vm} (see sendense-run backups --vm ${vm})`);
    if (backup.status !== 'complete') fail(`backup ${point.id} is ${backup.status}, not complete: it cannot be restored`);
    return backup;
  }
  if (point.type === 'latest') {
    const backup = await store.latestCompleteBackup(vm, repository);
    if (backup === undefined) fail(`there is no complete backup of VM ${vm} in ${repository}`);
    return backup;
  }
  const backup = await store.completeBackupAtOrBefore(vm, point.time, repository);
  if (backup === undefined) {
    const all = (await store.listBackups({ vm })).filter((b) => b.status === 'complete' && b.repository === repository);
    const first = all[0];
    fail(
      first
        ? `there is no complete backup of VM ${vm} at or before ${point.time.toISOString()}: the first is ${first.id} at ${first.startedAt}`
        : `there is no complete backup of VM ${vm} in ${repository}`,
    );
  }
  return backup;
}

// Before anything is taken: a restore never writes inside a repository (it would overwrite
// backups that the state database still calls complete), this hub's or any marked one.
async function refuseTargetsInRepositories(run: RestoreRun): Promise<void> {
  await run.target.refuseInRepositories(run, (file, what) => refuseInsideRepository(run.node, run.store, file, what, run.plan.repository.path));
}

function describePoint(run: RestoreRun): string {
  const point = run.plan.restore.point;
  return point.type === 'latest' ? 'latest' : point.type === 'id' ? point.id : point.time.toISOString();
}

function fail(message: string): never {
  throw new SendenseError(message, { step: 'resolve-point' });
}
