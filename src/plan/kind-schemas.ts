// The plan schema with the parts of kinds that schemas/plan.schema.json does not have yet (a
// kind's `schema`, src/kinds/kind.ts; docs/how-it-works.md#plan-kinds): its names in `kind`, its
// own keys (which every other kind's plans may not have) and its `if kind` entry. Text in, text
// out: the very same text when the file has every kind, so the build's validator still fits it.

/** A kind's part of schemas/plan.schema.json, for a kind the file does not have. */
export interface KindSchema {
  /** Its sentence in the description of the `kind` key: "NAME: what it does." */
  readonly about: string;
  /** Its own top-level keys, as JSON Schema; every other kind's plans may not have them. */
  readonly properties?: Readonly<Record<string, object>>;
  /** What its plans require and forbid: the `then` of its `if kind` entry in the schema's allOf. */
  readonly then: object;
}

/** What the schema needs of a kind (src/kinds/kind.ts has the rest). */
export interface SchemaOfKind {
  readonly names: readonly string[];
  readonly schema?: KindSchema;
}

interface SchemaShape {
  properties: Record<string, object> & { kind: { enum: string[]; description: string } };
  allOf: { then: { properties?: Record<string, unknown> } }[];
}

export function withKindSchemas(schemaText: string, kinds: readonly SchemaOfKind[]): string {
  const schema = JSON.parse(schemaText) as SchemaShape;
  const known = new Set(schema.properties.kind.enum);
  const missing = kinds.filter((kind) => kind.schema !== undefined && kind.names.some((name) => !known.has(name)));
  if (missing.length === 0) return schemaText;
  for (const { names, schema: part } of missing) {
    const { about, properties = {}, then } = part!;
    const kindKey = schema.properties.kind;
    kindKey.enum = [...kindKey.enum, ...names];
    kindKey.description = `${kindKey.description} ${about}`;
    const forbidden = Object.fromEntries(Object.keys(properties).map((key) => [key, false]));
    for (const entry of schema.allOf) entry.then.properties = { ...entry.then.properties, ...forbidden };
    Object.assign(schema.properties, properties);
    schema.allOf.push({
      if: { type: 'object', required: ['kind'], properties: { kind: { enum: [...names] } } },
      then,
    } as SchemaShape['allOf'][number]);
  }
  return JSON.stringify(schema);
}
