// `sendense-run validate FILE|DIR...` (docs/commands.md#validate): schema and semantic checks of every
// plan, errors as file:line:col (or GitHub Actions annotations, or JSON: docs/json-events.md),
// a summary line, exit 0 when all are valid else 2.

import path from 'node:path';
import { usageError } from '../errors.js';
import { formatDiagnostic, type PlanDiagnostic } from '../plan/plan-diagnostic.js';
import { validatePlanFiles } from '../plan/validate-plan-files.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';

const OPTIONS = declareOptions([
  {
    name: '--format',
    value: 'FORMAT',
    help: 'text (file:line:col: message, default), json (one document), jsonl (= --json), github (GitHub Actions annotations)',
  },
]);

type ValidateLine =
  | ({ readonly type: 'error' } & PlanDiagnostic)
  | ({ readonly type: 'warning' } & PlanDiagnostic)
  | {
      readonly type: 'summary';
      readonly ok: boolean;
      readonly plans: number;
      readonly invalid: number;
      readonly errors: number;
      readonly warnings: number;
    };

const DIAGNOSTIC = {
  file: '',
  line: 'absent when the problem is the file itself',
  column: 'absent when the problem is the file itself',
  severity: 'the same as `type`',
  message: '',
} as const;

const JSON_OUTPUT: JsonOutput = {
  heading: '`validate --json`',
  intro: '`--json` (= `--format jsonl`): one object per diagnostic, then the `summary`.',
  lines: typedLines<ValidateLine>({
    error: { when: 'a problem that makes the plan invalid', fields: DIAGNOSTIC },
    warning: { when: 'a problem that does not', fields: DIAGNOSTIC },
    summary: { when: 'at the end', fields: { ok: '', plans: '', invalid: '', errors: '', warnings: '' } },
  }),
  after: [
    '`--format json`: one document,',
    '`{ ok, summary: { plans, invalid, errors, warnings }, pathErrors: [diagnostic], files: [{ file, valid, name, errors: [diagnostic], warnings: [diagnostic] }] }`,',
    'each diagnostic `{ file, line, column, severity, message }`.',
    '',
    '`--format github`: one GitHub Actions workflow command per diagnostic,',
    '`::error file=PATH,line=L,col=C,title=sendense-run validate::MESSAGE` (or `::warning …`), the path',
    'relative to the working directory, then the summary line. In a workflow:',
    '',
    '<!-- docs-test: fragment -->',
    '',
    '```yaml',
    '- run: npx sendense-run validate --format github plans/',
    '```',
  ].join('\n'),
};

export const validateCommand: CommandSpec = defineCommand({
  name: 'validate',
  usage: 'sendense-run validate FILE|DIR... [--format text|json|jsonl|github]',
  does: 'Schema and semantic checks of every plan (a DIR: its *.yaml files), and across the plans given: each name used once,\none disk image or libvirt domain read under one VM name only, and one replicate plan per replica.path (schedule checks the\nsame). Exit 0 when all are valid, else 2.',
  options: OPTIONS,
  exitCodes: [
    { code: 0, when: 'every plan is valid (warnings do not count)' },
    { code: 2, when: 'at least one plan is invalid, a FILE or DIR does not exist, or a usage error' },
  ],
  json: JSON_OUTPUT,
  run: runValidate,
});

async function runValidate(context: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  const format = given.value('--format') ?? (context.json ? 'jsonl' : 'text');
  if (!FORMATS.includes(format)) throw usageError(`--format must be text, json, jsonl or github (got '${format}')`);
  const rest = given.operands;
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
    context.stdout.write(
      `${JSON.stringify({ ok, summary, pathErrors: pathErrors.map(jsonDiagnostic), files }, null, 2)}\n`,
    );
  } else if (format === 'jsonl') {
    for (const diagnostic of [...pathErrors, ...results.flatMap((result) => [...result.errors, ...result.warnings])]) {
      printJson<ValidateLine>(context, { type: diagnostic.severity, ...jsonDiagnostic(diagnostic) });
    }
    printJson<ValidateLine>(context, { type: 'summary', ok, ...summary });
  } else if (format === 'github') {
    for (const diagnostic of [...pathErrors, ...results.flatMap((result) => [...result.errors, ...result.warnings])]) {
      context.stdout.write(`${githubAnnotation(diagnostic)}\n`);
    }
    context.stdout.write(`${summaryLine(summary)}\n`);
  } else {
    const shown = [
      ...pathErrors,
      ...results.flatMap((result) => (context.quiet ? result.errors : [...result.errors, ...result.warnings])),
    ];
    for (const diagnostic of shown) context.stdout.write(`${formatDiagnostic(diagnostic)}\n`);
    context.stdout.write(`${summaryLine(summary)}\n`);
  }
  return ok ? 0 : 2;
}

const FORMATS = ['text', 'json', 'jsonl', 'github'];

// file, line, column, severity (error | warning), message.
function jsonDiagnostic(diagnostic: PlanDiagnostic): PlanDiagnostic {
  const { file, line, column, severity, message } = diagnostic;
  return { file, line, column, severity, message };
}

// A GitHub Actions workflow command: `::error file=F,line=L,col=C::message`, shown on the line of
// the pull request's diff (the file relative to the working directory, the repository's root in CI).
function githubAnnotation(diagnostic: PlanDiagnostic): string {
  const relative = path.relative(process.cwd(), path.resolve(diagnostic.file));
  const file = relative.startsWith('..') ? diagnostic.file : relative;
  const properties = [`file=${escapeProperty(file)}`];
  if (diagnostic.line !== undefined) properties.push(`line=${diagnostic.line}`);
  if (diagnostic.column !== undefined) properties.push(`col=${diagnostic.column}`);
  properties.push('title=sendense-run validate');
  return `::${diagnostic.severity} ${properties.join(',')}::${escapeData(diagnostic.message)}`;
}

// The escapes of the Actions toolkit (@actions/core): data, and property values.
function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

// "3 plans checked, 1 invalid, 2 errors, 1 warning"
function summaryLine(summary: { plans: number; invalid: number; errors: number; warnings: number }): string {
  const count = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `${count(summary.plans, 'plan')} checked, ${summary.invalid} invalid, ${count(summary.errors, 'error')}, ${count(summary.warnings, 'warning')}`;
}
