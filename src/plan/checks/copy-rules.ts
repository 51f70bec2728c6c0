// copy (docs/copies.md): an encrypted repository's copy has no retention; the rest of copy.to is
// checked by its type of target (src/copy/targets/plan-checks.ts), asked by name, never here.

import { copyToPlanChecks } from '../../copy/targets/index.js';
import { stringAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';

export function checkCopyRules(context: CheckContext): void {
  const { data, issues } = context;
  const raw = data as { copy?: { retention?: unknown }; repository?: { encryption?: unknown } } | null;
  const type = stringAt(data, 'copy', 'to', 'type');
  // The schema already refused an unknown type.
  const target = type === undefined ? undefined : copyToPlanChecks(type);
  if (target === undefined) return;
  if (raw?.copy?.retention !== undefined && raw.repository?.encryption !== undefined)
    issues.error(['copy', 'retention'], `copy.retention: ${target.encryptedRetention}`);
  target.checks?.(context, raw?.copy?.retention);
}
