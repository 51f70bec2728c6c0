// schedule and timezone are checked with croner, the library the scheduler runs them with.

import { Cron } from 'croner';
import { stringAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';

export function checkSchedule({ data, issues }: CheckContext): void {
  const schedule = stringAt(data, 'schedule');
  const timezone = stringAt(data, 'timezone');
  const timezoneValid = timezone === undefined || isTimeZone(timezone);
  if (!timezoneValid)
    issues.error(
      ['timezone'],
      `timezone: unknown time zone '${timezone}' (expected an IANA name like Europe/London or UTC)`,
    );
  if (stringAt(data, 'catchUp') === 'latest' && schedule === undefined) {
    issues.warning(['catchUp'], 'catchUp: has no effect without a schedule');
  }
  if (schedule === undefined || schedule.trim() === '') return;
  const fields = schedule.trim().split(/\s+/).length;
  if (!schedule.trim().startsWith('@') && fields !== 5 && fields !== 6) {
    issues.error(
      ['schedule'],
      `schedule: invalid cron expression '${schedule}': expected 5 fields (minute hour day month weekday) or 6 (seconds first), got ${fields}`,
    );
    return;
  }
  try {
    new Cron(schedule, { timezone: timezoneValid ? timezone : undefined, paused: true }).stop();
  } catch (error) {
    const reason = (error as Error).message.replace(/^Cron\w*:\s*/, '');
    issues.error(['schedule'], `schedule: invalid cron expression '${schedule}': ${reason}`);
  }
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
