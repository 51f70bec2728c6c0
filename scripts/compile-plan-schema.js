// Compiles schemas/plan.schema.json into dist/plan-schema-validator.cjs (ajv's standalone code),
// stamped with the schema's SHA-256: src/plan/plan-schema.ts uses it only while the stamp
// matches, and compiles the schema itself otherwise. Run by `npm run build`, after tsc.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { EDITOR_KEYWORDS, PLAN_SCHEMA_OPTIONS } from '../dist/src/plan/plan-schema-options.js';
import { PRECOMPILED_VALIDATOR, schemaDigest } from '../dist/src/plan/plan-schema.js';

const schemaText = readFileSync('schemas/plan.schema.json', 'utf8');
const ajv = new Ajv({ ...PLAN_SCHEMA_OPTIONS, code: { source: true } });
ajv.addVocabulary(EDITOR_KEYWORDS);
const validate = ajv.compile(JSON.parse(schemaText));
const code = standaloneCode.default(ajv, validate);
const target = `dist/${PRECOMPILED_VALIDATOR}`;
writeFileSync(
  `${target}.tmp`,
  `${code}\nmodule.exports.validate = module.exports;\nmodule.exports.schemaSha256 = ${JSON.stringify(schemaDigest(schemaText))};\n`,
);
renameSync(`${target}.tmp`, target);
