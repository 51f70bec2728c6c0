// `sendense-run verify [--vm NAME] [--backup ID]`: checks stored backups against the digests
// recorded when they were taken (docs/how-it-works.md, "Verification"); exit 1 when damage is found.

import { SendenseError } from '../errors.js';
import { checkVerifyKeys, verifyBackups } from '../verify/verify-backups.js';
import { verifyLine, verifySummary } from '../verify/verify-output.js';
import { rejectLeftovers, takeFlag, takeOption } from './args.js';
import type { CommandSpec } from './command.js';
import type { CliContext } from './context.js';
import { KEY_OPTIONS, takeKeyOption } from './key-option.js';
import { withExistingStore } from './open-existing-store.js';
import { withRecordedRun } from './recorded-run.js';

export const verifyCommand: CommandSpec = {
  name: 'verify',
  usage: 'sendense-run verify [--vm NAME] [--backup ID] [--authenticate] [--key-file FILE|--key-env NAME]',
  does: "Check stored backups against the digests recorded when they were taken: each file's own layer, its\nqcow2 metadata, every digest, its manifest and the backing file its header names. A difference names\nbackup, disk and guest offset and marks that backup and every backup built on it damaged; a damaged\nbackup whose files match again is cleared. A VM with a merge under way or unfinished is left for later.\nBackups of an encrypted repository need its key (--key-file or --key-env): without one that opens it,\nnothing is checked, marked or recorded (exit 2). Exit 1 when damage is found.",
  options: [
    { name: '--vm', value: 'NAME', help: 'only this VM' },
    { name: '--backup', value: 'ID', help: 'only this backup' },
    {
      name: '--authenticate',
      help: 'encrypted repositories: a manifest written before manifests carried an authentication code gets one when its file checks clean (docs/encryption.md#what-an-attacker-cannot-plant)',
    },
    ...KEY_OPTIONS,
  ],
  exitCodes: [
    {
      code: 0,
      when: 'no damage found, damage marks cleared where the files match again (backups taken before manifests existed, and those of a VM with a merge under way or unfinished, are listed as not verified)',
    },
    { code: 1, when: 'damage found (those backups and every backup built on them are now damaged, or still are), or the --vm/--backup asked for has a merge under way or unfinished' },
    { code: 2, when: 'no such --backup; a backup to check lies in an encrypted repository and no key given opens it (nothing was checked or marked); or a usage error' },
  ],
  run: runVerify,
};

async function runVerify(cli: CliContext, args: readonly string[]): Promise<number> {
  const key = takeKeyOption(args);
  const vm = takeOption(key.rest, '--vm');
  const backup = takeOption(vm.rest, '--backup');
  const authenticate = takeFlag(backup.rest, '--authenticate');
  rejectLeftovers(authenticate.rest, verifyCommand);
  return withExistingStore(cli, async (store) => {
    if (backup.value !== undefined && (await store.getBackup(backup.value)) === undefined) {
      throw new SendenseError(`no backup ${backup.value} in ${cli.dbPath} (see sendense-run backups)`, { exitCode: 2 });
    }
    // Before the run is recorded: without a key that opens an encrypted repository nothing is read or changed.
    await checkVerifyKeys(store, { vm: vm.value, backupId: backup.value });
    const record = { plan: 'verify', kind: 'verify', trigger: 'manual' } as const;
    return withRecordedRun(cli, store, { record }, async (run) => {
      const outcome = await verifyBackups(store, run.id, { vm: vm.value, backupId: backup.value, authenticate: authenticate.present }, (event) => {
        if (cli.json) cli.stdout.write(`${JSON.stringify(event)}\n`);
        else if (!cli.quiet || event.type === 'damaged' || event.type === 'cleared') cli.stdout.write(`${verifyLine(event)}\n`);
      });
      const summary = verifySummary(outcome);
      if (cli.json) {
        const { checked, damaged, unverifiable, cleared, notVerified } = outcome;
        cli.stdout.write(`${JSON.stringify({ type: 'summary', checked, damaged, unverifiable, cleared, notVerified })}\n`);
      } else cli.stdout.write(`${summary}\n`);
      if (outcome.cleared.length > 0) await store.noteRun(run.id, `damage cleared: ${outcome.cleared.join(', ')} (every file matches its manifest again)`);
      return outcome.damaged.length > 0 ? { failed: summary } : undefined;
    });
  });
}
