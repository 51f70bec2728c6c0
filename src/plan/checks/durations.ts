// Timeouts must leave the step some time: "0s" would fail every run at once.

import { parseDuration } from '../duration.js';
import { stringAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';

export function checkDurations({ data, issues }: CheckContext): void {
  const transfer = stringAt(data, 'timeouts', 'transfer');
  if (transfer !== undefined && parseDuration(transfer) === 0) {
    issues.error(['timeouts', 'transfer'], 'timeouts.transfer: must be longer than 0 (omit it for no limit)');
  }
}
