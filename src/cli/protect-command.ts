// `sendense-run protect VM --point ID` / `unprotect VM --point ID`: a protected point is never
// merged, removed or merged into by retention (prune, the retention step) or forget
// (docs/how-it-works.md#protected-points). Recorded in the state database and, so the repository
// stays self-describing, as <repository>/<vm>/protected/<id> (catalog import restores it).

import { constants } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isSendenseError, SendenseError, usageError } from '../errors.js';
import { protectionMarkerFile } from '../repository/layout.js';
import { makePrivateDirs, requireRealDirs } from '../repository/private-dirs.js';
import type { Store } from '../store/index.js';
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

interface ProtectionLine {
  readonly type: 'protection';
  readonly vm: string;
  readonly backupId: string;
  readonly protected: boolean;
  readonly changed: boolean;
}

// protect and unprotect print the same line: one section of docs/json-events.md.
const JSON_OUTPUT: JsonOutput = {
  intro: 'One object.',
  lines: typedLines<ProtectionLine>({
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
    const changed = await setProtection(store, vm, id, on);
    if (cli.json) printJson<ProtectionLine>(cli, { type: 'protection', vm, backupId: id, protected: on, changed });
    else cli.stdout.write(`${id} of VM ${vm}: ${on ? 'protected' : 'not protected'}\n`);
    return 0;
  });
}

// Whether the point's protection changed (false: it was so already).
async function setProtection(store: Store, vm: string, id: string, on: boolean): Promise<boolean> {
  const backup = await store.getBackup(id);
  if (backup === undefined || backup.vm !== vm)
    throw new SendenseError(`VM ${vm} has no backup ${id}`, { exitCode: 2 });
  const marker = protectionMarkerFile(backup.repository, vm, id);
  // The repository first: a marker without the database's mark only protects more, never less.
  if (on) {
    await makePrivateDirs(path.dirname(marker), backup.repository).catch((error: unknown) => {
      throw isSendenseError(error) ? new SendenseError(`${error.message}: ${id} not protected`) : error;
    });
    // Never through a symlink put under its name by whoever can write the repository (docs/threat-model.md).
    await writeFile(marker, `protected ${new Date().toISOString()}\n`, {
      flag: constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ELOOP') throw error;
      throw new SendenseError(`${marker} is a symlink, which is not followed: ${id} not protected`);
    });
    await store.setProtected(id, true);
  } else {
    await requireRealDirs(backup.repository, path.dirname(marker));
    await store.setProtected(id, false);
    await rm(marker, { force: true });
  }
  return backup.protected !== on;
}
