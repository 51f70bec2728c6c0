// The plan schema with the parts of source types that schemas/plan.schema.json does not have (a
// source definition's `schema`, src/source/source-definition.ts): its name in vm.source.type and
// its `if type` entry. Text in, text out: the very same text when the file has every type, so the
// build's validator still fits it (as ./kind-schemas.ts does for kinds).

/** A source type's part of schemas/plan.schema.json, for a type the file does not have. */
export interface SourceSchema {
  /** Its sentence in the description of vm.source.type: "NAME: what it reads." */
  readonly about: string;
  /** vm.source of this type, as JSON Schema (its `type` key included). */
  readonly source: object;
}

/** What the schema needs of a source type (src/source/source-definition.ts has the rest). */
export interface SchemaOfSource {
  readonly type: string;
  readonly schema?: SourceSchema;
}

interface SchemaShape {
  definitions: {
    source: {
      properties: { type: { enum: string[]; description: string } };
      allOf: object[];
    };
  };
}

export function withSourceSchemas(schemaText: string, sources: readonly SchemaOfSource[]): string {
  const schema = JSON.parse(schemaText) as SchemaShape;
  const typeKey = schema.definitions.source.properties.type;
  const missing = sources.filter((source) => source.schema !== undefined && !typeKey.enum.includes(source.type));
  if (missing.length === 0) return schemaText;
  for (const { type, schema: part } of missing) {
    typeKey.enum = [...typeKey.enum, type];
    typeKey.description = `${typeKey.description} ${part!.about}`;
    schema.definitions.source.allOf.push({
      if: { type: 'object', required: ['type'], properties: { type: { const: type } } },
      then: part!.source,
    });
  }
  return JSON.stringify(schema);
}
