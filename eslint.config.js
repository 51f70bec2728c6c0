// The lint rules (npm run lint, in CI): ESLint's and typescript-eslint's recommended sets, less
// the few that fight this code's idioms. Formatting is prettier's (.prettierrc.json).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'runners/dist/**', 'node_modules/**', 'bench/out/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // Unused on purpose: a leading underscore says so.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
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
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'better-sqlite3', message: 'use SqliteDatabase from src/store/sqlite-driver.js' }] }] },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
