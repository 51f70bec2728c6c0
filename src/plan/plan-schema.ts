// The JSON Schema of plan format v1 (schemas/plan.schema.json), compiled once per process.

import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

let compiled: ValidateFunction | undefined;

// Schema errors of `data` (ajv's raw form; describeSchemaErrors makes them readable).
export function planSchemaErrors(data: unknown): readonly ErrorObject[] {
  compiled ??= compilePlanSchema();
  return compiled(data) ? [] : (compiled.errors ?? []);
}

function compilePlanSchema(): ValidateFunction {
  // verbose: errors carry their parent schema, which lists the keys a mapping accepts.
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictRequired: false });
  // Editor-only annotations (yaml-language-server / VS Code) that ajv must not reject.
  ajv.addVocabulary(['patternErrorMessage', 'markdownDescription']);
  return ajv.compile(JSON.parse(readFileSync(planSchemaFile(), 'utf8')) as object);
}

// schemas/ sits at the package root; this file runs from src/ (tests) or dist/src/ (built).
export function planSchemaFile(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'schemas', 'plan.schema.json');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('schemas/plan.schema.json not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}
