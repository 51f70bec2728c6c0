// `sendense-run validate FILE|DIR...` (SPEC section 5): schema and semantic checks of every
// plan, errors as file:line:col, a summary line, exit 0 when all are valid else 2.

import { usageError } from '../errors.js';
import { formatDiagnostic, type PlanDiagnostic } from '../plan/plan-diagnostic.js';
import { validatePlanFiles } from '../plan/validate-plan-files.js';
import { rejectUnknownOptions, takeOption } from './args.js';
import type { Command } from './context.js';

export const validateCommand: Command = async (context, args) => {
  const { value: format = context.json ? 'jsonl' : 'text', rest } = takeOption(args, '--format');
  if (format !== 'text' && format !== 'json' && format !== 'jsonl') throw usageError(`--format must be text or json (got '${format}')`);
  rejectUnknownOptions(rest, 'validate');
  if (rest.length === 0) throw usageError('validate needs at least one plan FILE or DIR');

  const { results, pathErrors } = await validatePlanFiles(rest);
  const errors = [...pathErrors, ...results.flatMap((result) => result.errors)];
  const warnings = results.flatMap((result) => result.warnings);
  const summary = {
    plans: results.length,
    invalid: results.filter((result) => result.errors.length > 0).length + pathErrors.length,
    errors: errors.length,
    warnings: warnings.length,
  };
  const ok = errors.length === 0;

  if (format === 'json') {
    const files = results.map((result) => ({
      file: result.file,
      valid: result.errors.length === 0,
      name: result.plan?.name ?? result.declaredName?.name,
      errors: result.errors.map(jsonDiagnostic),
      warnings: result.warnings.map(jsonDiagnostic),
    }));
    context.stdout.write(`${JSON.stringify({ ok, summary, pathErrors: pathErrors.map(jsonDiagnostic), files }, null, 2)}\n`);
  } else if (format === 'jsonl') {
    for (const diagnostic of [...pathErrors, ...results.flatMap((result) => [...result.errors, ...result.warnings])]) {
      context.stdout.write(`${JSON.stringify({ type: diagnostic.severity, ...jsonDiagnostic(diagnostic) })}\n`);
    }
    context.stdout.write(`${JSON.stringify({ type: 'summary', ok, ...summary })}\n`);
  } else {
    const shown = [...pathErrors, ...results.flatMap((result) => (context.quiet ? result.errors : [...result.errors, ...result.warnings]))];
    for (const diagnostic of shown) context.stdout.write(`${formatDiagnostic(diagnostic)}\n`);
    context.stdout.write(`${summaryLine(summary)}\n`);
  }
  return ok ? 0 : 2;
};

function jsonDiagnostic(diagnostic: PlanDiagnostic): Omit<PlanDiagnostic, 'severity'> {
  const { severity: _severity, ...rest } = diagnostic;
  return rest;
}

// "3 plans checked, 1 invalid, 2 errors, 1 warning"
function summaryLine(summary: { plans: number; invalid: number; errors: number; warnings: number }): string {
  const count = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `${count(summary.plans, 'plan')} checked, ${summary.invalid} invalid, ${count(summary.errors, 'error')}, ${count(summary.warnings, 'warning')}`;
}
