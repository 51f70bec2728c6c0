// Every check the schema cannot do, in one list so a new rule has one obvious place.

import type { CheckContext, PlanCheck } from './check-context.js';
import { checkAbsolutePaths } from './absolute-paths.js';
import { checkCopyRules } from './copy-rules.js';
import { checkDiskKeys } from './disk-keys.js';
import { checkDiskSources } from './disk-sources.js';
import { checkDurations } from './durations.js';
import { checkEncryptionRules } from './encryption-rules.js';
import { checkNotifyRules } from './notify-rules.js';
import { checkPortRange } from './port-range.js';
import { checkRateRules } from './rate-rules.js';
import { checkRecoverRules } from './recover-rules.js';
import { checkReplicateRules } from './replicate-rules.js';
import { checkRestoreRules } from './restore-rules.js';
import { checkRetentionRules } from './retention-rules.js';
import { checkSchedule } from './schedule.js';
import { checkSourceRules } from './source-rules.js';

const CHECKS: readonly PlanCheck[] = [
  checkDiskKeys,
  checkDiskSources,
  checkPortRange,
  checkSchedule,
  checkAbsolutePaths,
  checkRestoreRules,
  checkRecoverRules,
  checkRateRules,
  checkReplicateRules,
  checkCopyRules,
  checkSourceRules,
  checkDurations,
  checkRetentionRules,
  checkEncryptionRules,
  checkNotifyRules,
];

export function checkPlanSemantics(context: CheckContext): void {
  for (const check of CHECKS) check(context);
}
