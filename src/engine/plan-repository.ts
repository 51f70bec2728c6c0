// A plan's repository before a run takes anything (docs/encryption.md): its settings agree with
// the repository's, and an encrypted repository's key opens it. The error names the plan.

import { SendenseError, isSendenseError } from '../errors.js';
import type { Plan } from '../plan/types.js';
import { checkRepository } from '../repository/repository-settings.js';

export async function checkPlanRepository(plan: Plan): Promise<void> {
  // A replicate plan keeps none; a drill of a replica's point reads none.
  if (!('repository' in plan) || plan.repository === undefined) return;
  try {
    await checkRepository(plan.repository);
  } catch (error) {
    if (!isSendenseError(error) || error.file !== undefined) throw error;
    throw new SendenseError(error.message, { file: plan.origin.file, exitCode: error.exitCode, cause: error });
  }
}
