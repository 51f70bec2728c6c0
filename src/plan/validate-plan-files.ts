// Validates many plan files as a set: each on its own, plus plan names unique across them, one
// source (a disk image, a libvirt domain) under one VM name only, and one replicate plan per
// replica.path (docs/commands.md#validate).

import { replicasOverlap, type DeclaredReplica } from './declared-replica.js';
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

export async function validatePlanFiles(
  paths: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<PlanFilesValidation> {
  const { files, errors: pathErrors } = await findPlanFiles(paths);
  const loaded = await Promise.all(
    files.map(async (file) => ({ file, ...(await loadPlanFile(file, { resolveEnv: false, env })) })),
  );
  return { results: reportSharedReplicas(reportSharedSources(reportDuplicateNames(loaded))), pathErrors };
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

// A disk image or domain that another plan reads under another VM name: an error where the later
// plan writes it, naming the first plan's VM and file. Backups of one source under two names would
// be two unrelated histories of the same disks.
function reportSharedSources(results: readonly PlanFileResult[]): PlanFileResult[] {
  const first = new Map<string, { vm: string; file: string }>();
  return results.map((result) => {
    const errors: PlanDiagnostic[] = [];
    for (const source of result.declaredSources ?? []) {
      const earlier = first.get(source.key);
      if (earlier === undefined) first.set(source.key, { vm: source.vm, file: result.file });
      else if (earlier.vm !== source.vm) {
        errors.push({
          file: result.file,
          line: source.line,
          column: source.column,
          severity: 'error',
          message: `${source.where}: ${source.what} is read as VM '${earlier.vm}' by ${earlier.file}, here as VM '${source.vm}': one source belongs to one VM name`,
        });
      }
    }
    if (errors.length === 0) return result;
    return { ...result, plan: undefined, errors: [...result.errors, ...errors].sort(byPosition) };
  });
}

// Two replicate plans whose replica.path can name one file on one node: an error where the later
// plan writes it, naming the first plan's file. One would install its points over the other's
// replica, a VM failed over to it included (docs/replication.md#one-replica-per-plan).
function reportSharedReplicas(results: readonly PlanFileResult[]): PlanFileResult[] {
  const earlier: { replica: DeclaredReplica; name: string | undefined; file: string }[] = [];
  return results.map((result) => {
    const replica = result.declaredReplica;
    if (replica === undefined) return result;
    const first = earlier.find((other) => replicasOverlap(other.replica, replica));
    earlier.push({ replica, name: result.declaredName?.name, file: result.file });
    if (first === undefined) return result;
    const error: PlanDiagnostic = {
      file: result.file,
      line: replica.line,
      column: replica.column,
      severity: 'error',
      message: `replica.path: ${replica.template} on ${replica.host} is also the replica of ${first.name === undefined ? 'the plan' : `plan '${first.name}'`} in ${first.file}: each replicate plan needs its own replica.path`,
    };
    return { ...result, plan: undefined, errors: [...result.errors, error].sort(byPosition) };
  });
}
