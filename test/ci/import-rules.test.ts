// The import-direction rules of eslint.config.js (npm run lint, in CI): a runner, bundled to run on
// a node, takes nothing from the hub's engine, hub, state or SSH code; doctor takes no kind module
// but today's exceptions. Checked on code as an engineer would write it, static and import().

import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint();

// The import rules' messages for `text` as if it were the file `filePath`.
async function refusals(filePath: string, text: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, { filePath });
  return result!.messages
    .filter((message) => ['no-restricted-imports', 'no-restricted-syntax'].includes(message.ruleId ?? ''))
    .map((message) => `${message.line}: ${message.message}`);
}

describe('import rules', () => {
  it('a runner imports no src/engine, src/hub, state, plan or hub package; wire, nbd, qemu and rate are its own', async () => {
    const text = [
      "import { runPlan } from '../../src/engine/run-plan.js';",
      "import { leaseHub } from '../../src/hub/hub-lease.js';",
      "import type { Store } from '../../src/store/index.js';",
      "import { Client } from 'ssh2';",
      "export const later = () => import('../../src/kinds/backup/index.js');",
      "import { encode } from '../../src/wire/index.js';",
      "import { NbdConnection } from '../../src/nbd/index.js';",
      "import { SendenseError } from '../../src/errors.js';",
      "import { UndoStack } from '../../src/engine/undo-stack.js';",
      'export const all = [runPlan, leaseHub, Client, encode, NbdConnection, SendenseError, UndoStack] as unknown as Store;',
    ].join('\n');
    const refused = await refusals('runners/transfer/new-file.ts', text);
    expect(refused.map((line) => Number(line.split(':')[0]))).toEqual([1, 2, 3, 4, 5]);
    expect(refused[0]).toContain('runners import nothing from src/engine or src/hub');
  });

  it('doctor imports no kind module but its listed exceptions', async () => {
    const text = [
      "import { backupKind } from '../kinds/backup/index.js';",
      "export const later = () => import('../kinds/replicate/index.js');",
      "import { RECOVERY_RESOURCE } from '../kinds/recover/recover-run.js';",
      "export const copy = () => import('../kinds/copy/open-copy.js');",
      'export const all = [backupKind, RECOVERY_RESOURCE];',
    ].join('\n');
    expect(await refusals('src/doctor/new-file.ts', text)).toEqual([
      '1: ' +
        "'../kinds/backup/index.js' import is restricted from being used by a pattern. doctor imports no kind module (issue 57: kinds declare their resources)",
      '2: doctor imports no kind module (issue 57: kinds declare their resources)',
    ]);
  });

  it('only src/cli imports src/cli: not the API, a domain folder, doctor or the console', async () => {
    const text = [
      "import { printJson } from '../cli/json-output.js';",
      "export const later = () => import('../cli/restore-command.js');",
      "import { listPoints } from '../core/list-points.js';",
      'export const all = [printJson, listPoints];',
    ].join('\n');
    for (const file of ['src/api/new-file.ts', 'src/failover/new-file.ts', 'src/doctor/new-file.ts']) {
      const refused = await refusals(file, text);
      expect(
        refused.map((line) => Number(line.split(':')[0])),
        file,
      ).toEqual([1, 2]);
      expect(refused[0]).toContain('only src/cli imports src/cli');
    }
    expect(
      await refusals('console/src/new-file.ts', "import { x } from '../../src/cli/x.js';\nexport const y = x;"),
    ).toHaveLength(1);
    expect(await refusals('src/cli/new-command.ts', text)).toEqual([]);
  });

  it('a step or a command holds a VM through the engine, never by the store lock of its own', async () => {
    const text = [
      'export async function work(store: { lockVm(...a: string[]): Promise<void>; unlockVm(...a: string[]): Promise<void> }) {',
      "  await store.lockVm('web01', 'run', 'plan');",
      "  await store.unlockVm('web01', 'run');",
      '}',
    ].join('\n');
    for (const file of ['src/cli/new-command.ts', 'src/kinds/backup/new-step.ts', 'src/steps/new-step.ts']) {
      const refused = await refusals(file, text);
      expect(
        refused.map((line) => Number(line.split(':')[0])),
        file,
      ).toEqual([2, 3]);
      expect(refused[0]).toContain('holds a VM through the engine');
    }
    expect(await refusals('src/engine/new-file.ts', text)).toEqual([]);
  });
});
