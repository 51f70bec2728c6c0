// The lint rules (npm run lint, in CI): ESLint's and typescript-eslint's recommended sets, less
// the few that fight this code's idioms. Formatting is prettier's (.prettierrc.json).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// What runners/ may not import (a path relative to the importing file, e.g. ../../src/nbd/index.js).
const RUNNER_IMPORTS = [
  {
    regex: '(^|/)src/(engine|hub)/(?!undo-stack\\.js$|in-turns\\.js$)',
    message: 'runners import nothing from src/engine or src/hub: they run on nodes (scripts/bundle-runner.js)',
  },
  {
    regex:
      '(^|/)src/(?!(wire|nbd|qemu|rate|engine|hub)/|errors\\.js$|repository/(range-digest|point-check|readable-image)\\.js$|vmware/(pinned-agent|read-list)\\.js$)',
    message:
      'runners run on nodes (scripts/bundle-runner.js): from src/ only wire, nbd, qemu, rate, errors.js, repository/{range-digest,point-check,readable-image}.js and vmware/{pinned-agent,read-list}.js',
  },
  {
    regex: '^(better-sqlite3|pg|kysely|ssh2|listr2|nodemailer|croner|ajv|@aws-sdk/.*)$',
    message: 'runners run on nodes with only Node.js: no hub package',
  },
];

// src/doctor imports no kind module but today's exceptions (static and dynamic import each).
const DOCTOR_KINDS = [
  {
    regex: '(^|/)kinds/(?!recover/recover-run\\.js$)',
    message: 'doctor imports no kind module (issue 57: kinds declare their resources)',
  },
  {
    regex: '(^|/)kinds/(?!copy/open-copy\\.js$)',
    message: 'doctor imports no kind module (issue 57: kinds declare their resources)',
  },
];

// Only src/cli imports src/cli: the API, the console and domain folders call the core (src/core)
// and render nothing of the CLI's (docs/api.md#one-implementation).
const CLI_IMPORTS = [
  {
    regex: '(^|/)cli/',
    message:
      'only src/cli imports src/cli: call the core (src/core), never a command or its output (docs/api.md#one-implementation)',
  },
];

// The engine is the one owner of a run's VM lock (docs/how-it-works.md#a-run-in-phases): a kind's
// step holds a VM through it, never by the store's lock of its own.
const VM_LOCK_OUTSIDE_ENGINE = ['lockVm', 'unlockVm'].map((name) => ({
  selector: `CallExpression[callee.property.name='${name}']`,
  message:
    "a run's step or a command holds a VM through the engine (holdVm, holdVmForCommand in src/engine/vm-turn.ts), never store.lockVm/unlockVm",
}));

// no-restricted-imports sees only static imports: the same patterns for import('...').
function dynamicImports(patterns) {
  // esquery's /regex/ cannot hold a slash, even escaped: \x2F stands for it.
  return patterns.map(({ regex, message }) => ({
    selector: `ImportExpression > Literal[value=/${regex.replaceAll('/', '\\x2F')}/]`,
    message,
  }));
}

export default tseslint.config(
  { ignores: ['dist/**', 'runners/dist/**', 'node_modules/**', 'bench/out/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // Unused on purpose: a leading underscore says so.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // Read loops assign in their condition: while ((match = pattern.exec(text)) !== null).
      'no-cond-assign': ['error', 'except-parens'],
      // A variable set before a try that may throw keeps its safe value: not a useless assignment here.
      'no-useless-assignment': 'off',
    },
  },
  {
    // better-sqlite3 12 has no binary for every Node.js line CI runs (13 ships Node-API ones):
    // the driver the CLI uses picks the one that loads.
    files: ['test/**', 'bench/**', 'scripts/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'better-sqlite3', message: 'use SqliteDatabase from src/store/sqlite-driver.js' }] },
      ],
    },
  },
  {
    files: ['src/**', 'console/**'],
    ignores: ['src/cli/**', 'src/doctor/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: CLI_IMPORTS }],
      'no-restricted-syntax': ['error', ...dynamicImports(CLI_IMPORTS)],
    },
  },
  {
    files: ['src/kinds/**', 'src/steps/**'],
    rules: {
      'no-restricted-syntax': ['error', ...dynamicImports(CLI_IMPORTS), ...VM_LOCK_OUTSIDE_ENGINE],
    },
  },
  {
    files: ['src/cli/**'],
    rules: { 'no-restricted-syntax': ['error', ...VM_LOCK_OUTSIDE_ENGINE] },
  },
  {
    // Runners are bundled into one file the hub copies to a node with only Node.js
    // (scripts/bundle-runner.js): they take from src/ only the wire, NBD, qemu and rate code, never
    // the hub's engine, state, SSH or plan code. Today's two exceptions are dependency-free modules
    // (undo-stack, in-turns) to move out of engine/ and hub/ once the audit branches are merged.
    files: ['runners/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: RUNNER_IMPORTS }],
      'no-restricted-syntax': ['error', ...dynamicImports(RUNNER_IMPORTS)],
    },
  },
  {
    // Doctor finds and gives back what runs left (docs/how-it-works.md); a kind's resources are to
    // become a registry doctor iterates (issue 57), so no new kind module comes into it. Today's
    // exceptions: the recovery resource's name and the copy target opener.
    files: ['src/doctor/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [DOCTOR_KINDS[0], ...CLI_IMPORTS] }],
      'no-restricted-syntax': ['error', ...dynamicImports([DOCTOR_KINDS[1], ...CLI_IMPORTS])],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
