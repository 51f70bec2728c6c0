// The JSON Schema of plan format v1 (schemas/plan.schema.json), compiled once per process, or
// not at all: `npm run build` writes the compiled validator to dist/plan-schema-validator.cjs
// (scripts/compile-plan-schema.js), stamped with the SHA-256 of the schema it was made from.
// It is used only while that stamp matches the schema file, so an edited schema is never
// checked by a stale validator; compiling takes ~0.2 s of every command that reads a plan. A kind
// the file does not have adds its part first (./kind-schemas.ts), and so is compiled here.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { findPackageRoot } from '../node/package-root.js';
import { withKindSchemas, type SchemaOfKind } from './kind-schemas.js';
import { EDITOR_KEYWORDS, PLAN_SCHEMA_OPTIONS } from './plan-schema-options.js';
import { withSourceSchemas, type SchemaOfSource } from './source-schemas.js';

const require = createRequire(import.meta.url);

export const PRECOMPILED_VALIDATOR = 'plan-schema-validator.cjs';

let compiled: { readonly validate: ValidateFunction; readonly kinds: string } | undefined;

// Schema errors of `data` (ajv's raw form; describeSchemaErrors makes them readable), by the
// schema with the parts of these kinds (src/kinds/index.ts) and source types
// (src/source/source-types.ts) that the file does not have.
export function planSchemaErrors(
  data: unknown,
  kinds: readonly SchemaOfKind[],
  sources: readonly SchemaOfSource[] = [],
): readonly ErrorObject[] {
  // A kind or source type registered since (registerKind, registerSourceType) has its part in the schema from then on.
  const names = `${kinds.map((kind) => kind.names.join()).join(' ')}/${sources.map((source) => source.type).join(' ')}`;
  if (compiled?.kinds !== names) compiled = { validate: planSchemaValidator(kinds, sources), kinds: names };
  return compiled.validate(data) ? [] : (compiled.validate.errors ?? []);
}

function planSchemaValidator(kinds: readonly SchemaOfKind[], sources: readonly SchemaOfSource[]): ValidateFunction {
  const schemaText = withSourceSchemas(withKindSchemas(readFileSync(planSchemaFile(), 'utf8'), kinds), sources);
  return precompiledValidator(schemaText) ?? compilePlanSchema(schemaText);
}

export function schemaDigest(schemaText: string): string {
  return createHash('sha256').update(schemaText).digest('hex');
}

// The build's validator, when it was made from exactly this schema.
export function precompiledValidator(schemaText: string): ValidateFunction | undefined {
  const file = path.join(findPackageRoot(), 'dist', PRECOMPILED_VALIDATOR);
  if (!existsSync(file)) return undefined;
  const module = require(file) as { schemaSha256?: string; validate?: ValidateFunction };
  return module.schemaSha256 === schemaDigest(schemaText) ? module.validate : undefined;
}

// ajv itself is loaded only here: a command with the build's validator does not pay for it.
export function compilePlanSchema(schemaText: string): ValidateFunction {
  const { Ajv } = require('ajv') as typeof import('ajv');
  const ajv = new Ajv(PLAN_SCHEMA_OPTIONS);
  ajv.addVocabulary(EDITOR_KEYWORDS);
  return ajv.compile(JSON.parse(schemaText) as object);
}

let notifyValidator: ValidateFunction | undefined;

// Errors of `{ notify }` by the plan schema's notify definition: the hub config's default notify
// (docs/notifications.md) is written exactly like a plan's. Compiled only for a hub config with one.
export function notifySchemaErrors(data: unknown): readonly ErrorObject[] {
  if (notifyValidator === undefined) {
    const { Ajv } = require('ajv') as typeof import('ajv');
    const ajv = new Ajv(PLAN_SCHEMA_OPTIONS);
    ajv.addVocabulary(EDITOR_KEYWORDS);
    const schema = JSON.parse(readFileSync(planSchemaFile(), 'utf8')) as { $id: string };
    ajv.addSchema(schema);
    notifyValidator = ajv.compile({
      type: 'object',
      properties: { notify: { $ref: `${schema.$id}#/definitions/notify` } },
    });
  }
  return notifyValidator(data) ? [] : (notifyValidator.errors ?? []);
}

// schemas/ sits at the package root, whether this runs from src/ (tests), dist/src/ or dist/cli/.
export function planSchemaFile(): string {
  return path.join(findPackageRoot(), 'schemas', 'plan.schema.json');
}
