// `sendense-run verify [--vm NAME] [--backup ID]`: checks stored backups against the digests
// recorded when they were taken (SPEC section 9); exit 1 when damage is found.

import { SendenseError } from '../errors.js';
import { verifyBackups } from '../verify/verify-backups.js';
import { verifyLine, verifySummary } from '../verify/verify-output.js';
import { rejectLeftovers, takeOption } from './args.js';
import type { Command } from './context.js';
import { withExistingStore } from './open-existing-store.js';

export const verifyCommand: Command = async (cli, args) => {
  const vm = takeOption(args, '--vm');
  const backup = takeOption(vm.rest, '--backup');
  rejectLeftovers(backup.rest, 'verify');
  return withExistingStore(cli, async (store) => {
    if (backup.value !== undefined && (await store.getBackup(backup.value)) === undefined) {
      throw new SendenseError(`no backup ${backup.value} in ${cli.dbPath} (see sendense-run backups)`, { exitCode: 2 });
    }
    const run = await store.createRun({ plan: 'verify', kind: 'verify', trigger: 'manual' });
    try {
      const outcome = await verifyBackups(store, run.id, { vm: vm.value, backupId: backup.value }, (event) => {
        if (cli.json) cli.stdout.write(`${JSON.stringify(event)}\n`);
        else if (!cli.quiet || event.type === 'damaged' || event.type === 'cleared') cli.stdout.write(`${verifyLine(event)}\n`);
      });
      const summary = verifySummary(outcome);
      if (cli.json) {
        const { checked, damaged, unverifiable, cleared, notVerified } = outcome;
        cli.stdout.write(`${JSON.stringify({ type: 'summary', checked, damaged, unverifiable, cleared, notVerified })}\n`);
      } else cli.stdout.write(`${summary}\n`);
      if (outcome.cleared.length > 0) await store.noteRun(run.id, `damage cleared: ${outcome.cleared.join(', ')} (every file matches its manifest again)`);
      await store.finishRun(run.id, outcome.damaged.length > 0 ? 'failed' : 'succeeded', outcome.damaged.length > 0 ? summary : undefined);
      return outcome.damaged.length > 0 ? 1 : 0;
    } catch (error) {
      await store.finishRun(run.id, 'failed', error instanceof Error ? error.message : String(error));
      throw error;
    }
  });
};
