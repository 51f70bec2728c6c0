// The raw plan types the builders read are the schema's, not a hand-kept copy of it:
// src/plan/plan-shape.generated.ts is what scripts/gen-plan-shape.js makes of the schema the plans
// are checked against (run `npm run plan-shape` when this fails).

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
// @ts-expect-error: a plain ES module without type declarations
import { planShape, planShapeText, TARGET } from '../../scripts/gen-plan-shape.js';
import { kindDefinitions } from '../../src/kinds/index.js';
import { withKindSchemas } from '../../src/plan/kind-schemas.js';
import { planSchemaFile } from '../../src/plan/plan-schema.js';

const ROOT = path.resolve('.');
const schema = () => JSON.parse(withKindSchemas(readFileSync(planSchemaFile(), 'utf8'), kindDefinitions())) as Schema;

type Schema = { properties: Record<string, unknown>; definitions: Record<string, Record<string, unknown>> };

it('the generated plan shape is what the schema says (else: npm run plan-shape)', async () => {
  const generated = (await planShapeText(schema(), ROOT)) as string;
  expect(
    readFileSync(TARGET as string, 'utf8') === generated,
    `${TARGET} is out of date: run \`npm run plan-shape\` and commit it`,
  ).toBe(true);
});

it('a key added to the schema is a key of the generated type', () => {
  const edited = schema();
  edited.definitions.node.properties = { ...(edited.definitions.node.properties as object), jump: { type: 'string' } };
  expect(planShape(edited)).toMatch(/export type RawNode = \{[^}]*readonly jump\?: string;/);
});

it('a keyword the generator cannot turn into a type stops it, naming the keyword', () => {
  const edited = schema();
  edited.definitions.node.oneOf = [{ required: ['identityFile'] }];
  expect(() => planShape(edited)).toThrow(/oneOf/);
});
