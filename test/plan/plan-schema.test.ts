// The schema serves editors too: every key has hover help, and every shipped plan points at it.

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';

type Schema = {
  [key: string]: unknown;
  properties?: Record<string, Schema | false>;
  $ref?: string;
  description?: string;
};

it('every property in schemas/plan.schema.json has a description (directly or where its $ref points)', async () => {
  const root = JSON.parse(await readFile('schemas/plan.schema.json', 'utf8')) as Schema;
  expect(root.$id).toMatch(/plan\.schema\.json$/);
  const resolve = (schema: Schema): Schema =>
    schema.$ref
      ? { ...(root.definitions as Record<string, Schema>)[schema.$ref.replace('#/definitions/', '')], ...schema }
      : schema;
  const missing: string[] = [];
  const visit = (schema: unknown, where: string): void => {
    if (typeof schema !== 'object' || schema === null) return;
    const node = schema as Schema;
    for (const [key, property] of Object.entries(node.properties ?? {})) {
      if (property !== false && resolve(property).description === undefined) missing.push(`${where}.${key}`);
    }
    // An `if` only tests a value; hover help comes from the properties themselves.
    for (const [key, child] of Object.entries(node))
      if (typeof child === 'object' && key !== 'if') visit(child, `${where}/${key}`);
  };
  visit(root, '#');
  expect(missing).toEqual([]);
});

it('every shipped plan starts with the yaml-language-server $schema line', async () => {
  for (const dir of ['plans', 'examples']) {
    for (const name of (await readdir(dir)).filter((file) => file.endsWith('.yaml'))) {
      const first = (await readFile(path.join(dir, name), 'utf8')).split('\n')[0];
      expect(first, `${dir}/${name}`).toBe('# yaml-language-server: $schema=../schemas/plan.schema.json');
    }
  }
});

// The build's precompiled validator (dist/plan-schema-validator.cjs, made by `npm run build`)
// spares every command ~0.2 s of compiling the schema; it must say exactly what the compiled
// schema says, and never be used for a schema it was not made from.
it("the build's validator gives every plan, valid or broken, the same errors as the schema compiled now", async () => {
  const { parse } = await import('yaml');
  const { compilePlanSchema, planSchemaFile, precompiledValidator } = await import('../../src/plan/plan-schema.js');
  const schemaText = await readFile(planSchemaFile(), 'utf8');
  const built = precompiledValidator(schemaText);
  expect(built, 'dist/plan-schema-validator.cjs is missing or stale: run npm run build').toBeDefined();
  const compiled = compilePlanSchema(schemaText);
  const files: string[] = [];
  for (const dir of ['plans', 'examples', 'test/fixtures/plans']) {
    for (const name of await readdir(dir, { recursive: true }))
      if (String(name).endsWith('.yaml')) files.push(path.join(dir, String(name)));
  }
  let broken = 0;
  for (const file of files) {
    let data: unknown;
    try {
      data = parse(await readFile(file, 'utf8'));
    } catch {
      continue;
    }
    const strip = (errors: typeof compiled.errors) =>
      (errors ?? []).map(({ instancePath, schemaPath, keyword, params, message }) => ({
        instancePath,
        schemaPath,
        keyword,
        params,
        message,
      }));
    expect(built!(data), file).toBe(compiled(data));
    expect(strip(built!.errors), file).toEqual(strip(compiled.errors));
    if (compiled.errors?.length) broken += 1;
  }
  expect(broken).toBeGreaterThan(5);
  // An edited schema (one more space) is compiled, not checked by the build's old validator.
  expect(precompiledValidator(`${schemaText} `)).toBeUndefined();
});
