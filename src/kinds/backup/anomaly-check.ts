// anomaly-check: after a successful incremental, before retention, compares its figures with the
// VM's own history (docs/anomaly.md#when-a-point-is-suspect); a point far outside on both is marked
// suspect at once and the clean points before it are kept from retention, prune and forget.

import type { BackupRun } from './backup-run.js';
import type { Step } from '../../engine/step.js';
import { cleanPointsBefore, figuresOf, judgePoint } from '../../anomaly/suspect-point.js';

export const anomalyCheck: Step<BackupRun> = {
  name: 'anomaly-check',
  title: (run) => `compare backup ${run.state.backupId} with the history of ${run.plan.vm.name}`,
  skip: (run) =>
    !run.plan.anomaly.enabled
      ? 'anomaly.enabled is false'
      : run.state.type !== 'incremental'
        ? 'a full backup is not compared'
        : undefined,
  async run(run) {
    const { plan, store, state, reporter } = run;
    const points = (await store.listBackups({ vm: plan.vm.name })).filter(
      (backup) => backup.repository === plan.repository.path,
    );
    const point = points.find((backup) => backup.id === state.backupId);
    if (point === undefined) return `backup ${state.backupId} is not recorded: nothing compared`;
    const figures = figuresOf(point);
    if (figures === undefined) return 'no figures to compare (a source that reports no sample)';
    const history = await store.pointFiguresHistory(plan.vm.name, plan.repository.path, plan.anomaly.history);
    await store.recordPointFigures({
      backupId: point.id,
      vm: plan.vm.name,
      repository: plan.repository.path,
      takenAt: point.startedAt,
      ...figures,
    });
    const verdict = judgePoint(figures, history, plan.anomaly);
    if (verdict.kind === 'off') return 'anomaly.enabled is false';
    if (verdict.kind === 'learning')
      return `learning: ${verdict.have} of ${verdict.need} incrementals with figures; no point is marked before`;
    if (verdict.kind === 'clean') return "within the VM's history";
    const keep = cleanPointsBefore(points, point, plan.anomaly.keepClean);
    await store.markSuspect(point.id, verdict.reasons, keep);
    state.suspect = verdict.reasons;
    reporter.emit({
      type: 'warning',
      step: 'anomaly-check',
      message: `backup ${point.id} of ${plan.vm.name} is suspect: ${verdict.reasons}; kept from retention until sendense-run clear ${plan.vm.name} --point ${point.id}: ${keep.join(', ') || 'none'}`,
    });
    return `SUSPECT: ${verdict.reasons}; clean points kept: ${keep.join(', ') || 'none'}`;
  },
  would: (run) =>
    run.plan.anomaly.enabled
      ? `compare an incremental's changed bytes and incompressible share with the VM's last ${run.plan.anomaly.history} incrementals (docs/anomaly.md)`
      : 'nothing (anomaly.enabled is false)',
};
