// The editor's line at the top of a plan, `# yaml-language-server: $schema=PATH` (docs/commands.md#schema):
// `validate` warns when PATH does not lead to a file from where the plan is (a copied example
// keeps a path relative to the checkout), and `schema --install` writes one that does: this
// installation's schema by its absolute path.

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { PlanDiagnostic } from './plan-diagnostic.js';

const MODELINE = /^#\s*yaml-language-server:\s*\$schema=(\S+)\s*$/;

/** The modeline's line (1-based) and schema reference, if the plan has one among its leading comments. */
export function findSchemaModeline(text: string): { line: number; column: number; ref: string } | undefined {
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    if (!line.startsWith('#')) return undefined;
    const match = MODELINE.exec(line);
    if (match !== null)
      return { line: index + 1, column: line.indexOf('$schema=') + '$schema='.length + 1, ref: match[1]! };
  }
  return undefined;
}

export function schemaModelineWarning(text: string, file: string): PlanDiagnostic | undefined {
  const found = findSchemaModeline(text);
  if (found === undefined || /^[a-z][a-z0-9+.-]*:\/\//i.test(found.ref)) return undefined;
  const target = path.resolve(path.dirname(file), found.ref);
  if (existsSync(target)) return undefined;
  return {
    file,
    line: found.line,
    column: found.column,
    severity: 'warning',
    message: `$schema: ${found.ref} is not there from this plan (${target}), so editors check nothing; sendense-run schema --install ${file} points it at this installation's schema`,
  };
}

// The plan's text with its modeline pointing at `schema` (replaced in place, or added as the first line).
export function withSchemaModeline(text: string, schema: string): string {
  const line = `# yaml-language-server: $schema=${schema}`;
  const found = findSchemaModeline(text);
  if (found === undefined) return `${line}\n${text}`;
  const lines = text.split('\n');
  lines[found.line - 1] = line;
  return lines.join('\n');
}
