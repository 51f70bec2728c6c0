// retention: keepChains (whole chains) and the keep-* rules (points, merged away) are two
// different ways to keep backups; a plan uses one of them.

import { isObject, valueAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';

const KEEP_RULES = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;

export function checkRetentionRules({ data, issues }: CheckContext): void {
  const retention = valueAt(data, 'retention');
  if (!isObject(retention)) return;
  const rules = KEEP_RULES.filter((rule) => retention[rule] !== undefined);
  if (retention.keepChains !== undefined && rules.length > 0) {
    issues.error(
      ['retention', rules[0]!],
      `retention.${rules[0]}: cannot be combined with retention.keepChains (keep whole chains, or points with keep-* rules, not both)`,
    );
  }
  if (retention.keepChains === undefined && rules.length === 0) {
    issues.error(['retention'], `retention: needs keepChains or at least one of ${KEEP_RULES.join(', ')}`);
  }
}
