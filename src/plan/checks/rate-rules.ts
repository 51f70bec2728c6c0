// rate (docs/bandwidth.md): a rate of at least 1 B/s, for a data path that can hold to it; a files
// restore reads through a mount, which it cannot limit.

import { parseRate } from '../../rate/rate-text.js';
import { hasEnvRef } from '../env-refs.js';
import { stringAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';

export function checkRateRules({ data, issues }: CheckContext): void {
  const rate = stringAt(data, 'rate');
  if (rate === undefined || hasEnvRef(rate)) return;
  if (parseRate(rate) === undefined) issues.error(['rate'], `rate: must be a rate like 50MiB/s or 200MB/s (got '${rate}')`);
  else if (stringAt(data, 'kind') === 'restore' && stringAt(data, 'restore', 'target', 'type') === 'files') {
    issues.error(['rate'], 'rate: a files restore (restore.target.type: files) cannot be limited; remove rate');
  }
}
