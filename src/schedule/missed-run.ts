// catchUp: latest — the plan's most recent scheduled time before now, if no run of the plan was
// recorded since (a plan that never ran counts as missed once its first time has passed).

import { Cron } from 'croner';
import type { Plan } from '../plan/types.js';
import type { Run } from '../store/index.js';

export function missedRun(
  plan: Plan & { readonly schedule: string },
  lastRun: Run | undefined,
  now = new Date(),
): Date | undefined {
  const cron = new Cron(plan.schedule, { timezone: plan.timezone, paused: true });
  const [previous] = cron.previousRuns(1, now);
  cron.stop();
  if (previous === undefined) return undefined;
  if (lastRun !== undefined && Date.parse(lastRun.startedAt) >= previous.getTime()) return undefined;
  return previous;
}
