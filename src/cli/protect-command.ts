// `sendense-run protect VM --point ID` / `unprotect VM --point ID`: a protected point is never
// merged, removed or merged into by retention (prune, the retention step) or forget
// (docs/how-it-works.md#protected-points). Recorded in the state database and, so the repository
// stays self-describing, as <repository>/<vm>/protected/<id> (src/core/set-protection.ts sets both).

import { setProtection, type Protection } from '../core/set-protection.js';
import { usageError } from '../errors.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import { withExistingStore } from './open-existing-store.js';

const NOT_FOUND = {
  code: 2,
  when: 'the VM has no such backup, or a usage error (an unknown option or a missing argument)',
} as const;

const POINT = declareOptions([{ name: '--point', value: 'ID', help: 'the backup to protect' }]);

// protect and unprotect print the same line: one section of docs/json-events.md.
const JSON_OUTPUT: JsonOutput = {
  intro: 'One object.',
  lines: typedLines<Protection>({
    protection: {
      when: 'the mark is set',
      fields: { vm: '', backupId: '', protected: "the point's mark now", changed: 'false when it was so already' },
    },
  }),
};

export const protectCommand: CommandSpec = defineCommand({
  name: 'protect',
  usage: 'sendense-run protect VM --point ID',
  does:
    'Protect a point: retention (prune, the retention step after a run) never merges it, removes it or merges\n' +
    'the point before it into it, and forget refuses it. backups marks it. Recorded in the state database and\n' +
    'as the file <repository>/<vm>/protected/<id>, which catalog import reads back.',
  options: POINT,
  exitCodes: [{ code: 0, when: 'the point is protected (also when it already was)' }, NOT_FOUND],
  json: JSON_OUTPUT,
  run: (cli, given) => runProtect(cli, given, true),
});

export const unprotectCommand: CommandSpec = defineCommand({
  name: 'unprotect',
  usage: 'sendense-run unprotect VM --point ID',
  does: 'Give a protected point back to retention and forget: its mark goes from the state database and the repository.',
  options: [{ ...POINT[0], help: 'the backup to unprotect' }],
  exitCodes: [{ code: 0, when: 'the point is not protected (also when it was not)' }, NOT_FOUND],
  json: JSON_OUTPUT,
  run: (cli, given) => runProtect(cli, given, false),
});

async function runProtect(cli: CliContext, given: GivenOptions<typeof POINT>, on: boolean): Promise<number> {
  const command = on ? protectCommand : unprotectCommand;
  const id = given.value('--point');
  if (given.operands.length !== 1 || id === undefined)
    throw usageError(`${command.usage.replace('sendense-run ', '')}: one VM and --point ID`);
  const vm = given.operands[0]!;
  return withExistingStore(cli, async (store) => {
    const protection = await setProtection(store, { vm, point: id, protected: on });
    if (cli.json) printJson<Protection>(cli, protection);
    else cli.stdout.write(`${id} of VM ${vm}: ${on ? 'protected' : 'not protected'}\n`);
    return 0;
  });
}
