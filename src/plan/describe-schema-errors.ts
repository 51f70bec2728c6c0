// Turns ajv's errors into one message per mistake, worded for people and addressed by path.

import type { ErrorObject } from 'ajv';
import { atPath, formatPlanPath, type PlanIssue, type PlanPath } from './plan-issue.js';
import { quote } from './raw-plan.js';
import { editDistance } from '../format/edit-distance.js';

export function describeSchemaErrors(errors: readonly ErrorObject[], data: unknown): PlanIssue[] {
  const kind =
    typeof (data as { kind?: unknown } | null)?.kind === 'string' ? (data as { kind: string }).kind : undefined;
  const copyTo = (data as { copy?: { to?: { type?: unknown } } } | null)?.copy?.to?.type;
  const issues: PlanIssue[] = [];
  const unknownKeys = errors.filter((error) => error.keyword === 'additionalProperties');
  for (const error of errors) {
    const path = pointerToPath(error.instancePath);
    const issue = describe(error, path, kind, unknownKeys, typeof copyTo === 'string' ? copyTo : undefined);
    if (issue !== undefined) issues.push(issue);
  }
  // allOf/if branches can report the same mistake twice (e.g. a wrong type).
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const id = `${issue.at}|${formatPlanPath(issue.path)}|${issue.message}`;
    return seen.has(id) ? false : (seen.add(id), true);
  });
}

function describe(
  error: ErrorObject,
  path: PlanPath,
  kind: string | undefined,
  unknownKeys: readonly ErrorObject[],
  copyTo: string | undefined,
): PlanIssue | undefined {
  const params = error.params as Record<string, unknown>;
  const schema = (error.parentSchema ?? {}) as Record<string, unknown>;
  const value = error.data;
  const issue = (message: string, at: 'key' | 'value' = 'value', where: PlanPath = path): PlanIssue => ({
    path: where,
    at,
    severity: 'error',
    message,
  });
  switch (error.keyword) {
    case 'if':
      return undefined; // the failing `then` branch reports the real problem
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const expected = acceptedKeys(schema);
      const missing = missingNear(key, absentKeys(schema, value));
      const hint = missing === undefined ? '' : `, did you mean '${missing}'?`;
      const where = path.length === 0 ? 'at the top level' : `in ${formatPlanPath(path)}`;
      return issue(`unknown key '${key}' ${where}${hint} (expected one of: ${expected.join(', ')})`, 'key', [
        ...path,
        key,
      ]);
    }
    case 'required': {
      const key = String(params.missingProperty);
      // A misspelt key is one mistake: the unknown-key message already names the right key.
      const misspelt = unknownKeys.some(
        (other) =>
          other.instancePath === error.instancePath &&
          isNear(String((other.params as Record<string, unknown>).additionalProperty), key),
      );
      return misspelt ? undefined : issue(atPath(path, `missing required key '${key}'`), 'key');
    }
    case 'type':
      return issue(atPath(path, `expected ${typeName(String(params.type))}, got ${valueName(value)}`));
    case 'enum':
      return issue(
        atPath(
          path,
          `must be one of ${(params.allowedValues as unknown[]).join(', ')} (got ${typeof value === 'string' ? quote(value) : valueName(value)})`,
        ),
      );
    case 'const':
      return issue(
        atPath(
          path,
          `must be ${String(params.allowedValue)} (got ${typeof value === 'string' ? quote(value) : String(value)})`,
        ),
      );
    case 'pattern': {
      const hint =
        typeof schema.patternErrorMessage === 'string'
          ? schema.patternErrorMessage
          : `must match ${String(params.pattern)}`;
      return issue(atPath(path, `${hint} (got ${quote(value)})`));
    }
    case 'minLength':
      return issue(atPath(path, 'must not be empty'));
    case 'maxLength':
      return issue(atPath(path, `must be at most ${String(params.limit)} characters long`));
    case 'minimum':
      return issue(atPath(path, `must be at least ${String(params.limit)} (got ${String(value)})`));
    case 'maximum':
      return issue(atPath(path, `must be at most ${String(params.limit)} (got ${String(value)})`));
    case 'minItems':
      return issue(atPath(path, `must list at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}`));
    case 'false schema': {
      // copy.to's keys depend on its type (docs/copies.md), not on the plan's kind.
      if (path.length === 3 && path[0] === 'copy' && path[1] === 'to')
        return issue(atPath(path, `not allowed for a copy target of type ${copyTo ?? 'unknown'}`), 'key');
      const why = REFUSED_BECAUSE[`${kind}:${formatPlanPath(path)}`];
      return issue(
        atPath(path, `not allowed in a plan of kind ${kind ?? 'unknown'}${why === undefined ? '' : ` (${why})`}`),
        'key',
      );
    }
    default:
      return issue(atPath(path, error.message ?? 'is invalid'));
  }
}

// Why a kind refuses a key, where "not allowed" alone would leave the user guessing: KIND:PATH -> why.
const REFUSED_BECAUSE: Readonly<Record<string, string>> = {
  'replicate:repository': 'the hub holds no copy of a replica: it is kept at replica.path on replica.node',
};

// Keys a mapping accepts; `false` properties are reported as "not allowed" instead.
function acceptedKeys(schema: Record<string, unknown>): string[] {
  const properties = (schema.properties ?? {}) as Record<string, unknown>;
  return Object.keys(properties).filter((key) => properties[key] !== false);
}

// Keys the mapping accepts but does not have: candidates for "did you mean".
function absentKeys(schema: Record<string, unknown>, value: unknown): string[] {
  const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
  const properties = Object.keys((schema.properties ?? {}) as Record<string, unknown>);
  const present = typeof value === 'object' && value !== null ? Object.keys(value) : [];
  return [...new Set([...required, ...properties])].filter((key) => !present.includes(key));
}

function missingNear(key: string, candidates: readonly string[]): string | undefined {
  return candidates.find((candidate) => isNear(key, candidate));
}

// Close enough to be a typo: same letters ignoring case, or at most two edits apart.
function isNear(a: string, b: string): boolean {
  if (a.toLowerCase() === b.toLowerCase()) return true;
  if (Math.abs(a.length - b.length) > 2 || Math.min(a.length, b.length) < 3) return false;
  return editDistance(a.toLowerCase(), b.toLowerCase()) <= 2;
}

function typeName(type: string): string {
  const names: Record<string, string> = {
    object: 'a mapping (key: value lines)',
    array: 'a list',
    string: 'a string',
    integer: 'an integer',
    number: 'a number',
    boolean: 'true or false',
  };
  return type
    .split(',')
    .map((part) => names[part] ?? part)
    .join(' or ');
}

function valueName(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${quote(value)}`;
  return `${typeof value} ${String(value)}`;
}

function pointerToPath(pointer: string): PlanPath {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^(0|[1-9][0-9]*)$/.test(part) ? Number(part) : part));
}
