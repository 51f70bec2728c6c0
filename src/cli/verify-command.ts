// `sendense-run verify [--vm NAME] [--backup ID]`: checks stored backups against the digests
// recorded when they were taken (SPEC section 9); exit 1 when damage is found.

import { SendenseError } from '../errors.js';
import { verifyBackups } from '../verify/verify-backups.js';
import { verifyLine } from '../verify/verify-output.js';
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
        else if (!cli.quiet || event.type === 'damaged') cli.stdout.write(`${verifyLine(event)}\n`);
      });
      const unverified = outcome.unverifiable.length > 0 ? `; ${outcome.unverifiable.length} without manifests not verified` : '';
      const summary = `verified ${outcome.checked} backup(s)${outcome.damaged.length > 0 ? `, ${outcome.damaged.length} marked damaged` : ', no damage found'}${unverified}`;
      if (cli.json) cli.stdout.write(`${JSON.stringify({ type: 'summary', checked: outcome.checked, damaged: outcome.damaged, unverifiable: outcome.unverifiable })}\n`);
      else cli.stdout.write(`${summary}\n`);
      await store.finishRun(run.id, outcome.damaged.length > 0 ? 'failed' : 'succeeded', outcome.damaged.length > 0 ? summary : undefined);
      return outcome.damaged.length > 0 ? 1 : 0;
    } catch (error) {
      await store.finishRun(run.id, 'failed', error instanceof Error ? error.message : String(error));
      throw error;
    }
  });
};
