// Steps that run after a backup is complete and cleaned up (retention; see SPEC section 4).

import type { BackupRun } from './run-context.js';
import type { Step } from './step.js';
import { retention } from '../steps/retention.js';

export const afterBackupSteps: readonly Step<BackupRun>[] = [retention];
