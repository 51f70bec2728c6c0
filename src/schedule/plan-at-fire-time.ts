// A scheduled run uses the plan as loaded (SIGHUP re-reads files), with `${VAR}` resolved from
// the environment at the moment it fires.

import { loadPlanText } from '../plan/load.js';
import { diagnosticError } from '../plan/plan-diagnostic.js';
import type { Plan } from '../plan/types.js';
import type { SchedulePlan } from './load-schedule-plans.js';

export function planAtFireTime(scheduled: SchedulePlan, env: NodeJS.ProcessEnv = process.env): Plan {
  if (scheduled.plan.envRefs.length === 0) return scheduled.plan;
  const loaded = loadPlanText(scheduled.text, scheduled.plan.origin.file, { resolveEnv: true, env });
  if (loaded.plan === undefined) throw diagnosticError(loaded.errors[0]);
  return loaded.plan;
}
