// `sendense-run history [--plan NAME]`: past runs, newest first, with status, duration and error.

import { usageError } from '../errors.js';
import { rejectLeftovers, takeOption } from './args.js';
import type { Command } from './context.js';
import { withExistingStore } from './open-existing-store.js';

export const historyCommand: Command = async (cli, args) => {
  const plan = takeOption(args, '--plan');
  const limit = takeOption(plan.rest, '--limit');
  rejectLeftovers(limit.rest, 'history');
  const count = limit.value === undefined ? 50 : Number(limit.value);
  if (!Number.isInteger(count) || count < 1) throw usageError(`--limit must be a positive whole number (got '${limit.value}')`);
  return withExistingStore(cli, async (store) => {
    const runs = await store.listRuns({ plan: plan.value, limit: count });
    if (cli.json) {
      for (const run of runs) cli.stdout.write(`${JSON.stringify({ ...run, seconds: duration(run.startedAt, run.endedAt) })}\n`);
      return 0;
    }
    if (runs.length === 0) {
      cli.stdout.write(plan.value ? `no runs of plan ${plan.value}\n` : 'no runs yet\n');
      return 0;
    }
    for (const run of runs) {
      const seconds = duration(run.startedAt, run.endedAt);
      // A skipped run never started: its reason (in error) says why, a duration would mislead.
      const took = seconds === null || run.status === 'skipped' ? '' : ` ${seconds.toFixed(1)} s`;
      const backup = run.backupId ? ` backup ${run.backupId}` : '';
      const error = run.error ? `\n    ${run.error}` : '';
      cli.stdout.write(`${run.startedAt}  ${run.plan}  ${run.kind} (${run.trigger})  ${run.status}${took}${backup}  [${run.id}]${error}\n`);
    }
    return 0;
  });
};

function duration(start: string, end: string | null): number | null {
  return end === null ? null : (Date.parse(end) - Date.parse(start)) / 1000;
}
