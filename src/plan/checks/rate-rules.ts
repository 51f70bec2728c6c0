// rate (docs/bandwidth.md): a rate of at least 1 B/s (a kind whose data path cannot hold to it
// says so in its own checks, src/kinds).

import { parseRate } from '../../rate/rate-text.js';
import { hasEnvRef } from '../env-refs.js';
import { stringAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';

export function checkRateRules({ data, issues }: CheckContext): void {
  const rate = stringAt(data, 'rate');
  if (rate === undefined || hasEnvRef(rate)) return;
  if (parseRate(rate) === undefined)
    issues.error(['rate'], `rate: must be a rate like 50MiB/s or 200MB/s (got '${rate}')`);
}
