// Loads one plan file (src/plan/load.ts): YAML with positions, secrets, schema, semantic checks,
// then the frozen typed Plan. Returns every problem found (validate); loadPlanForRun throws the first.

import { kindDefinitions } from '../kinds/index.js';
import { sourceDefinitions } from '../source/source-types.js';
import { declaredReplica, type DeclaredReplica } from './declared-replica.js';
import { declaredSources, type DeclaredSource } from './declared-sources.js';
import { checkLiteralSecrets } from './checks/literal-secrets.js';
import { checkPlanSemantics } from './checks/semantic-checks.js';
import { buildPlan } from './build-plan.js';
import { describeSchemaErrors } from './describe-schema-errors.js';
import { findEnvRefs, isHookCommand, substituteEnvRefs } from './env-refs.js';
import { parsePlanYaml } from './parse-plan-yaml.js';
import { schemaModelineWarning } from './schema-modeline.js';
import { byPosition, diagnosticError, type PlanDiagnostic } from './plan-diagnostic.js';
import { atPath, isWithin, PlanIssues, type PlanIssue } from './plan-issue.js';
import { planSchemaErrors } from './plan-schema.js';
import { readPlanText } from './read-plan-text.js';
import { isObject } from './raw-plan.js';
import type { Plan } from './types.js';

export interface LoadPlanOptions {
  /** Substitute `${VAR}` from env (a run): a missing variable is an error. Otherwise a warning. */
  readonly resolveEnv: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

export interface LoadedPlan {
  /** Present only when there are no errors. */
  readonly plan?: Plan;
  readonly errors: readonly PlanDiagnostic[];
  readonly warnings: readonly PlanDiagnostic[];
  /** The plan's `name` and where it is written, even when the plan has errors (for uniqueness). */
  readonly declaredName?: { readonly name: string; readonly line: number; readonly column: number };
  /** What it reads (disk images, domains) and where each is written, even when it has errors (for overlaps). */
  readonly declaredSources?: readonly (Omit<DeclaredSource, 'path'> & {
    readonly line: number;
    readonly column: number;
  })[];
  /** A replicate plan's replica.path and where it is written, even when it has errors (one replica per plan). */
  readonly declaredReplica?: DeclaredReplica & { readonly line: number; readonly column: number };
}

export async function loadPlanFile(file: string, options: LoadPlanOptions): Promise<LoadedPlan> {
  const read = await readPlanText(file);
  if ('problem' in read) return { errors: [read.problem], warnings: [] };
  const loaded = loadPlanText(read.text, file, options);
  const modeline = schemaModelineWarning(read.text, file);
  return modeline === undefined ? loaded : { ...loaded, warnings: [...loaded.warnings, modeline].sort(byPosition) };
}

// The plan a run executes; any problem throws SendenseError (exit code 2) at FILE:LINE:COL.
export async function loadPlanForRun(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Plan> {
  const loaded = await loadPlanFile(file, { resolveEnv: true, env });
  if (loaded.plan === undefined) throw diagnosticError(loaded.errors[0]);
  return loaded.plan;
}

export function loadPlanText(text: string, file: string, options: LoadPlanOptions): LoadedPlan {
  const env = options.env ?? process.env;
  const yaml = parsePlanYaml(text);
  const diagnostic = (issue: PlanIssue): PlanDiagnostic => {
    const { line, column } = yaml.locate(issue.path, issue.at);
    return { file, line, column, severity: issue.severity, message: issue.message };
  };
  if (yaml.syntaxErrors.length > 0) {
    const errors = yaml.syntaxErrors.map(({ position, message }) => ({
      file,
      ...position,
      severity: 'error' as const,
      message,
    }));
    return { errors, warnings: [] };
  }
  const issues = new PlanIssues();
  if (!isObject(yaml.data)) {
    issues.error(
      [],
      yaml.data == null
        ? 'the file is empty; a plan starts with version: 1'
        : 'a plan must be a mapping of keys (version, kind, name, ...)',
    );
    return split(issues.list.map(diagnostic));
  }
  const refs = findEnvRefs(yaml.data);
  const missing = refs.filter(
    (ref, i) => env[ref.name] === undefined && refs.findIndex((other) => other.name === ref.name) === i,
  );
  for (const ref of missing) {
    const text = `environment variable ${ref.name} is not set`;
    if (options.resolveEnv) issues.error(ref.path, atPath(ref.path, text));
    else issues.warning(ref.path, atPath(ref.path, `${text} here (a run would fail)`));
  }
  const data = options.resolveEnv ? substituteEnvRefs(yaml.data, env, isHookCommand) : yaml.data;
  const context = { data, issues, lineOf: (path: PlanIssue['path']) => yaml.locate(path, 'key').line };
  const hidden = checkLiteralSecrets(context);
  const schemaIssues = describeSchemaErrors(planSchemaErrors(data, kindDefinitions(), sourceDefinitions()), data);
  for (const issue of schemaIssues) if (!hidden.some((path) => isWithin(issue.path, path))) issues.list.push(issue);
  checkPlanSemantics(context);
  const name = (data as { name?: unknown }).name;
  const declaredName = typeof name === 'string' ? { name, ...yaml.locate(['name'], 'value') } : undefined;
  const sources = declaredSources(yaml.data).map(({ path, ...source }) => ({
    ...source,
    ...yaml.locate(path, 'value'),
  }));
  const replica = declaredReplica(yaml.data);
  const loaded = {
    ...split(issues.list.map(diagnostic)),
    declaredName,
    declaredSources: sources,
    ...(replica === undefined ? {} : { declaredReplica: { ...replica, ...yaml.locate(['replica', 'path'], 'value') } }),
  };
  if (loaded.errors.length > 0) return loaded;
  const names = [...new Set(refs.map((ref) => ref.name))];
  return { ...loaded, plan: buildPlan(data, file, names, options.resolveEnv ? env : {}) };
}

function split(diagnostics: PlanDiagnostic[]): LoadedPlan {
  const sorted = diagnostics.sort(byPosition);
  return {
    errors: sorted.filter((d) => d.severity === 'error'),
    warnings: sorted.filter((d) => d.severity === 'warning'),
  };
}
