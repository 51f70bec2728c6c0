// The facts of a run that hooks receive as environment variables (docs/plan-reference.md, hooks).

import type { Plan } from '../plan/types.js';

export interface HookFacts {
  readonly plan: Plan;
  readonly runId: string;
  /** running (before hooks), succeeded, failed or interrupted. */
  readonly status: string;
  readonly backupId?: string;
  /** The run's error, one line (failed or interrupted runs). */
  readonly error?: string;
}

export function hookEnv(facts: HookFacts): Readonly<Record<string, string>> {
  const env: Record<string, string> = {
    SENDENSE_PLAN: facts.plan.name,
    SENDENSE_VM: facts.plan.vm.name,
    SENDENSE_KIND: facts.plan.kind,
    SENDENSE_RUN_ID: facts.runId,
    SENDENSE_STATUS: facts.status,
    SENDENSE_BACKUP_ID: facts.backupId ?? '',
  };
  if (facts.error !== undefined) env.SENDENSE_ERROR = facts.error;
  return Object.freeze(env);
}
