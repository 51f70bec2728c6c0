// `sendense-run verify [--vm NAME] [--backup ID] [--repository PATH]`: checks stored backups against
// the digests recorded when they were taken (docs/how-it-works.md, "Verification"); exit 1 when damage
// is found, 2 when an encrypted repository was left unverified for want of a key that opens it.

import path from 'node:path';
import { SendenseError, usageError } from '../errors.js';
import type { Store } from '../store/index.js';
import { checkVerifyKeys, verifyBackups, type VerifyEvent } from '../verify/verify-backups.js';
import { verifyLine, verifySummary } from '../verify/verify-output.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, rejectOperands, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import { KEY_OPTIONS, keyOption } from './key-option.js';
import { withExistingStore } from './open-existing-store.js';
import { withRecordedRun } from './recorded-run.js';

const OPTIONS = declareOptions([
  { name: '--vm', value: 'NAME', help: 'only this VM' },
  { name: '--backup', value: 'ID', help: 'only this backup' },
  {
    name: '--repository',
    value: 'PATH',
    help: 'only the backups in this repository (an encrypted one with its key: --key-file or --key-env)',
  },
  {
    name: '--authenticate',
    help: "encrypted repositories: a manifest written before manifests carried an authentication code, or before they named their file's LUKS header, gets both when its file checks clean and no other point owns that header (docs/encryption.md#what-an-attacker-cannot-plant)",
  },
  ...KEY_OPTIONS,
]);

type VerifyLine =
  | VerifyEvent
  | {
      readonly type: 'summary';
      readonly checked: number;
      readonly damaged: readonly string[];
      readonly unverifiable: readonly string[];
      readonly cleared: readonly string[];
      readonly notVerified: readonly string[];
      readonly notVerifiedRepositories: readonly string[];
    };

const JSON_OUTPUT: JsonOutput = {
  intro: 'A line per disk checked and per thing found, then the `summary`.',
  lines: typedLines<VerifyLine>({
    disk: {
      when: 'a disk checked',
      fields: {
        backupId: '',
        vm: '',
        disk: '',
        ok: '',
        digestsChecked: '',
        bytesRead: '',
        findings: '`[{ offset?, message }]` (`offset`: the guest offset of a data difference)',
        authenticated:
          "optional: `true` when `verify --authenticate` added its manifest's authentication code and its file's LUKS header, docs/encryption.md#what-an-attacker-cannot-plant",
      },
    },
    unverifiable: { when: 'a backup file without a manifest', fields: { backupId: '', vm: '', disk: '', reason: '' } },
    damaged: {
      when: 'a backup found damaged',
      fields: { backupId: '', vm: '', because: '', builtOnIt: 'ids also marked' },
    },
    cleared: {
      when: 'a damaged backup whose files match again and whose parent is complete (now restorable)',
      fields: { backupId: '', vm: '', was: 'the damage it was marked with' },
    },
    'still-damaged': {
      when: 'a damaged backup whose own files match but whose parent is still damaged',
      fields: { backupId: '', vm: '', because: '' },
    },
    'not-verified': {
      when: 'a backup left for later: its VM has a merge under way or unfinished, a merge changed it while it was read, or another process holds its file',
      fields: { backupId: '', vm: '', reason: '' },
    },
    'repository-not-verified': {
      when: 'an encrypted repository that no key given opens (its backups not read, never judged)',
      fields: { repository: '', backups: 'ids', reason: '' },
    },
    summary: {
      when: 'at the end',
      fields: {
        checked: '',
        damaged: 'ids',
        unverifiable: 'ids',
        cleared: 'ids',
        notVerified: 'ids',
        notVerifiedRepositories: 'paths',
      },
    },
  }),
  after: 'Exit 1 when any damage, else 2 when a repository was not verified for want of its key.',
};

export const verifyCommand: CommandSpec = defineCommand({
  name: 'verify',
  usage:
    'sendense-run verify [--vm NAME] [--backup ID] [--repository PATH] [--authenticate] [--key-file FILE|--key-env NAME]',
  does: "Check stored backups against the digests recorded when they were taken: each file's own layer, its\nqcow2 metadata, every digest, its manifest and the backing file its header names. A difference names\nbackup, disk and guest offset and marks that backup and every backup built on it damaged; a damaged\nbackup whose files match again is cleared. A VM with a merge under way or unfinished is left for later.\nBackups of an encrypted repository need its key (--key-file or --key-env): without one that opens it,\nthat repository is left alone and said (NOT VERIFIED, with how to verify it: --repository PATH and its\nkey), and the other repositories are verified all the same (exit 2); when nothing else is left to check,\nnothing is checked, marked or recorded. Exit 1 when damage is found.",
  options: OPTIONS,
  exitCodes: [
    {
      code: 0,
      when: 'no damage found, damage marks cleared where the files match again (backups taken before manifests existed, and those of a VM with a merge under way or unfinished, are listed as not verified)',
    },
    {
      code: 1,
      when: 'damage found (those backups and every backup built on them are now damaged, or still are), or the --vm/--backup asked for has a merge under way or unfinished',
    },
    {
      code: 2,
      when: 'no damage found, but an encrypted repository holding backups to check was not verified: no key given opens it (a NOT VERIFIED line each; the other repositories were verified, and when none was left nothing was checked, marked or recorded); no such --backup; no backup of the --vm; no backup recorded in --repository; or a usage error',
    },
  ],
  json: JSON_OUTPUT,
  run: runVerify,
});

async function runVerify(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  keyOption(given);
  rejectOperands(given.operands, 'verify');
  const backup = given.value('--backup');
  const repository = given.value('--repository');
  if (repository === '') throw usageError('--repository needs the path of a repository');
  const selection = { vm: given.value('--vm'), backupId: backup, repository };
  return withExistingStore(cli, async (store) => {
    if (backup !== undefined && (await store.getBackup(backup)) === undefined) {
      throw new SendenseError(`no backup ${backup} in ${cli.dbPath} (see sendense-run backups)`, { exitCode: 2 });
    }
    const vm = given.value('--vm');
    if (vm !== undefined && (await store.listBackups({ vm })).length === 0) {
      throw new SendenseError(`no backup of VM ${vm} in ${cli.dbPath} (see sendense-run backups)`, { exitCode: 2 });
    }
    if (repository !== undefined) await requireRecordedRepository(store, repository, cli.dbPath);
    // Before the run is recorded: when every backup to check lies in an encrypted repository no key opens, nothing is read or changed.
    await checkVerifyKeys(store, selection);
    const record = { plan: 'verify', kind: 'verify', trigger: 'manual' } as const;
    let locked = 0;
    const exitCode = await withRecordedRun(cli, store, { record }, async (run) => {
      const outcome = await verifyBackups(
        store,
        run.id,
        { ...selection, authenticate: given.flag('--authenticate') },
        (event) => {
          if (cli.json) printJson<VerifyLine>(cli, event);
          else if (
            !cli.quiet ||
            event.type === 'damaged' ||
            event.type === 'cleared' ||
            event.type === 'repository-not-verified'
          )
            cli.stdout.write(`${verifyLine(event)}\n`);
        },
      );
      const summary = verifySummary(outcome);
      if (cli.json) {
        const { checked, damaged, unverifiable, cleared, notVerified, lockedRepositories } = outcome;
        const notVerifiedRepositories = lockedRepositories.map((entry) => entry.repository);
        printJson<VerifyLine>(cli, {
          type: 'summary',
          checked,
          damaged,
          unverifiable,
          cleared,
          notVerified,
          notVerifiedRepositories,
        });
      } else cli.stdout.write(`${summary}\n`);
      if (outcome.cleared.length > 0)
        await store.noteRun(
          run.id,
          `damage cleared: ${outcome.cleared.join(', ')} (every file matches its manifest again)`,
        );
      locked = outcome.lockedRepositories.length;
      if (locked > 0)
        await store.noteRun(
          run.id,
          `not verified (encrypted, no key given opens it): ${outcome.lockedRepositories.map((entry) => entry.repository).join(', ')}`,
        );
      return outcome.damaged.length > 0 ? { failed: summary } : undefined;
    });
    // Damage says more than a repository left for its key: exit 1 wins.
    return exitCode === 0 && locked > 0 ? 2 : exitCode;
  });
}

// --repository names a repository some recorded backup lies in: a mistyped path must not verify nothing and pass.
async function requireRecordedRepository(store: Store, repository: string, dbPath: string): Promise<void> {
  const backups = await store.listBackups({});
  if (backups.some((backup) => path.resolve(backup.repository) === path.resolve(repository))) return;
  throw new SendenseError(`no backup recorded in repository ${repository} in ${dbPath} (see sendense-run backups)`, {
    exitCode: 2,
  });
}
