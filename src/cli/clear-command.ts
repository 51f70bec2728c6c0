// `sendense-run clear VM --point ID`: an operator looked at a suspect point (docs/anomaly.md#clearing-a-suspect-point)
// and clears it: the mark stays in its record as cleared, with who and when, and the clean points
// it kept go back to retention, prune and forget.

import { userInfo } from 'node:os';
import { SendenseError, usageError } from '../errors.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import { withExistingStore } from './open-existing-store.js';

const POINT = declareOptions([{ name: '--point', value: 'ID', help: 'the suspect point to clear' }]);

interface ClearedLine {
  readonly type: 'cleared';
  readonly vm: string;
  readonly backupId: string;
  readonly by: string;
  readonly released: readonly string[];
}

const JSON_OUTPUT: JsonOutput = {
  intro: 'One object.',
  lines: typedLines<ClearedLine>({
    cleared: {
      when: 'the suspect point is cleared',
      fields: {
        vm: '',
        backupId: '',
        by: 'the user recorded as having cleared it',
        released: 'the clean points it kept, back to retention',
      },
    },
  }),
};

export const clearCommand: CommandSpec = defineCommand({
  name: 'clear',
  usage: 'sendense-run clear VM --point ID',
  does:
    'Clear a suspect point (docs/anomaly.md): its record keeps the reasons and says who cleared it and when;\n' +
    'the clean points it kept go back to retention, prune and forget, and status no longer fails for it.',
  options: POINT,
  exitCodes: [
    { code: 0, when: 'the point is cleared (also when it already was)' },
    { code: 2, when: 'the VM has no such point, it is not suspect, or a usage error' },
  ],
  json: JSON_OUTPUT,
  run: runClear,
});

async function runClear(cli: CliContext, given: GivenOptions<typeof POINT>): Promise<number> {
  const id = given.value('--point');
  if (given.operands.length !== 1 || id === undefined) throw usageError('clear VM --point ID: one VM and --point ID');
  const vm = given.operands[0]!;
  return withExistingStore(cli, async (store) => {
    const backup = await store.getBackup(id);
    if (backup === undefined || backup.vm !== vm)
      throw new SendenseError(`VM ${vm} has no backup ${id}`, { exitCode: 2 });
    if (backup.suspect === null)
      throw new SendenseError(`backup ${id} of VM ${vm} is not suspect: nothing to clear`, { exitCode: 2 });
    const by = operator();
    const released = await store.clearSuspect(id, by);
    if (cli.json) printJson<ClearedLine>(cli, { type: 'cleared', vm, backupId: id, by, released });
    else
      cli.stdout.write(
        `${id} of VM ${vm}: cleared by ${by}; ${released.length === 0 ? 'no point was kept for it' : `released ${released.join(', ')}`}\n`,
      );
    return 0;
  });
}

// Who runs the command: the user behind sudo when there is one, else this process's user.
function operator(): string {
  const sudo = process.env.SUDO_USER;
  const self = userInfo().username;
  return sudo !== undefined && sudo !== '' && sudo !== self ? `${sudo} (via sudo as ${self})` : self;
}
