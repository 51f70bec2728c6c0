// `sendense-run clear VM --point ID`: an operator looked at a suspect point (docs/anomaly.md#clearing-a-suspect-point)
// and clears it: the mark stays in its record as cleared, with who and when, and the clean points
// it kept go back to retention, prune and forget.

import { clearSuspectPoint, type Cleared } from '../core/clear-suspect-point.js';
import { usageError } from '../errors.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import { withExistingStore } from './open-existing-store.js';
import { operatorName } from './operator-name.js';

const POINT = declareOptions([{ name: '--point', value: 'ID', help: 'the suspect point to clear' }]);

const JSON_OUTPUT: JsonOutput = {
  intro: 'One object.',
  lines: typedLines<Cleared>({
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
    const cleared = await clearSuspectPoint(store, vm, id, operatorName());
    const { by, released } = cleared;
    if (cli.json) printJson<Cleared>(cli, cleared);
    else
      cli.stdout.write(
        `${id} of VM ${vm}: cleared by ${by}; ${released.length === 0 ? 'no point was kept for it' : `released ${released.join(', ')}`}\n`,
      );
    return 0;
  });
}
