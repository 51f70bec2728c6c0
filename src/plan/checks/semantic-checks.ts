// Every check the schema cannot do: those of any plan in one list here, so a new rule has one
// obvious place, then those of the plan's kind (src/kinds, each kind's definition).

import { kindNamed } from '../../kinds/index.js';
import { stringAt } from '../raw-plan.js';
import type { CheckContext, PlanCheck } from './check-context.js';
import { checkAbsolutePaths } from './absolute-paths.js';
import { checkDiskKeys } from './disk-keys.js';
import { checkDiskSources } from './disk-sources.js';
import { checkDurations } from './durations.js';
import { checkEncryptionRules } from './encryption-rules.js';
import { checkNotifyRules } from './notify-rules.js';
import { checkPortRange } from './port-range.js';
import { checkRateRules } from './rate-rules.js';
import { checkRetentionRules } from './retention-rules.js';
import { checkSchedule } from './schedule.js';
import { checkSourceRules } from './source-rules.js';

const CHECKS: readonly PlanCheck[] = [
  checkDiskKeys,
  checkDiskSources,
  checkPortRange,
  checkSchedule,
  checkAbsolutePaths,
  checkRateRules,
  checkSourceRules,
  checkDurations,
  checkRetentionRules,
  checkEncryptionRules,
  checkNotifyRules,
];

export function checkPlanSemantics(context: CheckContext): void {
  for (const check of CHECKS) check(context);
  // An unknown kind is the schema's error; elsewhere a kind's blocks are themselves the mistake.
  for (const check of kindNamed(stringAt(context.data, 'kind'))?.checks ?? []) check(context);
}
