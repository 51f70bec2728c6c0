// Validates many plan files as a set: each on its own, plus plan names unique across them.

import { findPlanFiles } from './find-plan-files.js';
import { loadPlanFile, type LoadedPlan } from './load.js';
import { byPosition, type PlanDiagnostic } from './plan-diagnostic.js';

export interface PlanFileResult extends LoadedPlan {
  readonly file: string;
}

export interface PlanFilesValidation {
  readonly results: readonly PlanFileResult[];
  /** Problems with the named paths themselves (missing, empty directory). */
  readonly pathErrors: readonly PlanDiagnostic[];
}

export async function validatePlanFiles(paths: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<PlanFilesValidation> {
  const { files, errors: pathErrors } = await findPlanFiles(paths);
  const loaded = await Promise.all(files.map(async (file) => ({ file, ...(await loadPlanFile(file, { resolveEnv: false, env })) })));
  return { results: reportDuplicateNames(loaded), pathErrors };
}

// A plan name used twice: the error is on the later file's name, naming the first file.
function reportDuplicateNames(results: readonly PlanFileResult[]): PlanFileResult[] {
  const firstFile = new Map<string, string>();
  return results.map((result) => {
    const declared = result.declaredName;
    if (declared === undefined) return result;
    const earlier = firstFile.get(declared.name);
    if (earlier === undefined) {
      firstFile.set(declared.name, result.file);
      return result;
    }
    const error: PlanDiagnostic = {
      file: result.file,
      line: declared.line,
      column: declared.column,
      severity: 'error',
      message: `name: plan name '${declared.name}' is already used by ${earlier}`,
    };
    return { ...result, plan: undefined, errors: [...result.errors, error].sort(byPosition) };
  });
}
