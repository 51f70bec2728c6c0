// How the plan schema is compiled: the same options whether it is compiled at build time
// (scripts/compile-plan-schema.js, ajv's standalone code) or at run time.

import type { Options } from 'ajv';

// verbose: errors carry their parent schema, which lists the keys a mapping accepts.
export const PLAN_SCHEMA_OPTIONS: Options = { allErrors: true, verbose: true, strict: true, strictRequired: false };

// Editor-only annotations (yaml-language-server / VS Code) that ajv must not reject.
export const EDITOR_KEYWORDS = ['patternErrorMessage', 'markdownDescription'];
