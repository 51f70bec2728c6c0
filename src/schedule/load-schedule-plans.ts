// The plans the scheduler works with: every plan file under the given paths, validated as a set;
// valid plans with a `schedule` are scheduled, the others listed as ignored or invalid.

import { readFile } from 'node:fs/promises';
import type { PlanDiagnostic } from '../plan/plan-diagnostic.js';
import type { Plan } from '../plan/types.js';
import { validatePlanFiles } from '../plan/validate-plan-files.js';

/** A valid plan with a schedule, and the text it was loaded from (env is resolved from it at each run). */
export interface SchedulePlan {
  readonly plan: Plan & { readonly schedule: string };
  readonly text: string;
}

export interface InvalidPlanFile {
  readonly file: string;
  /** The name the file declares, when it can be read (to keep an older valid version). */
  readonly name?: string;
  readonly errors: readonly PlanDiagnostic[];
}

export interface SchedulePlans {
  readonly scheduled: readonly SchedulePlan[];
  /** Valid plans without a schedule. */
  readonly ignored: readonly Plan[];
  readonly invalid: readonly InvalidPlanFile[];
  /** Named paths that do not exist or hold no plans. */
  readonly pathErrors: readonly PlanDiagnostic[];
}

export async function loadSchedulePlans(
  paths: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<SchedulePlans> {
  const { results, pathErrors } = await validatePlanFiles(paths, env);
  const scheduled: SchedulePlan[] = [];
  const ignored: Plan[] = [];
  const invalid: InvalidPlanFile[] = [];
  for (const result of results) {
    const plan = result.plan;
    if (plan === undefined) {
      invalid.push({ file: result.file, name: result.declaredName?.name, errors: result.errors });
    } else if (plan.schedule === undefined) {
      ignored.push(plan);
    } else {
      const text = await readFile(result.file, 'utf8');
      scheduled.push({ plan: plan as SchedulePlan['plan'], text });
    }
  }
  return { scheduled, ignored, invalid, pathErrors };
}
