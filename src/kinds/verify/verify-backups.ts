// verify-backups (kind: verify plans): checks the plan's VM's backups (or every VM's) in its
// repository against their manifests, skipping those verified within outdatedAfter; damage found
// marks them and fails the run (docs/how-it-works.md#verification).

import type { RunContext } from '../../engine/run-context.js';
import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import type { VerifyPlan } from '../../plan/types.js';
import { verifyBackups } from '../../verify/verify-backups.js';
import { verifyLine, verifySummary } from '../../verify/verify-output.js';

export const verifyBackupsStep: Step<RunContext<VerifyPlan>> = {
  name: 'verify-backups',
  title: (run) =>
    `check the backups of ${run.plan.verify.vm ?? 'every VM'} in ${run.plan.repository.path} against their manifests`,
  async run(run) {
    const { plan } = run;
    const outcome = await verifyBackups(
      run.store,
      run.runId,
      { vm: plan.verify.vm, repository: plan.repository.path, outdatedAfter: plan.verify.outdatedAfter },
      (event) =>
        run.reporter.emit({
          type: (event.type === 'disk' && event.ok) || event.type === 'cleared' ? 'info' : 'warning',
          step: 'verify-backups',
          message: verifyLine(event),
        }),
    );
    if (outcome.damaged.length > 0) {
      throw new SendenseError(
        `damage found: ${outcome.damaged.length} backup(s) marked damaged (${outcome.damaged.join(', ')})`,
        { step: 'verify-backups', exitCode: 1 },
      );
    }
    if (outcome.cleared.length > 0)
      await run.store.noteRun(
        run.runId,
        `damage cleared: ${outcome.cleared.join(', ')} (every file matches its manifest again)`,
      );
    return verifySummary(outcome);
  },
  would(run) {
    const { vm, outdatedAfter } = run.plan.verify;
    const outdated =
      outdatedAfter === undefined ? '' : ` (those not verified in the last ${outdatedAfter / 86_400_000} day(s))`;
    return `check the backups of ${vm ?? 'every VM'} in ${run.plan.repository.path} against their manifests${outdated}`;
  },
};
