// `sendense-run catalog import REPOSITORY`: rebuilds the state of the backups in a repository from
// its manifests (docs/operations.md, "The state database is lost or damaged"), for a lost or new
// database or a repository moved to another hub.

import { statSync } from 'node:fs';
import path from 'node:path';
import { SendenseError, usageError } from '../errors.js';
import { importCatalog, type ImportOutcome } from '../repository/catalog-import.js';
import { openStore } from '../store/index.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import { withRecordedRun } from './recorded-run.js';
import { KEY_OPTIONS, keyOption } from './key-option.js';
import { requireRepositoryKey } from '../repository/repository-settings.js';

const OPTIONS = declareOptions([...KEY_OPTIONS]);

type CatalogLine =
  | {
      readonly type: 'imported';
      readonly backupId: string;
      readonly vm: string;
      readonly kind: string;
      readonly parentId: string | null;
      readonly disks: readonly number[];
    }
  | { readonly type: 'skipped'; readonly backupId: string; readonly reason: string }
  | { readonly type: 'problem'; readonly message: string }
  | { readonly type: 'relocated'; readonly backupId: string; readonly repository: string }
  | {
      readonly type: 'summary';
      readonly imported: number;
      readonly known: number;
      readonly relocated: number;
      readonly skipped: number;
    };

const JSON_OUTPUT: JsonOutput = {
  heading: '`catalog import --json`',
  lines: typedLines<CatalogLine>({
    imported: {
      when: 'a backup recorded',
      fields: { backupId: '', vm: '', kind: '`full`, `incremental`', parentId: '', disks: 'disk keys' },
    },
    skipped: { when: 'a backup left out', fields: { backupId: '', reason: '' } },
    problem: { when: 'a manifest left out', fields: { message: '' } },
    relocated: {
      when: 'a known backup whose files were found moved into REPOSITORY (its records now name them there)',
      fields: { backupId: '', repository: '' },
    },
    summary: { when: 'at the end', fields: { imported: '', known: '', relocated: '', skipped: '' } },
  }),
};

export const catalogCommand: CommandSpec = defineCommand({
  name: 'catalog',
  usage: 'sendense-run catalog import REPOSITORY [--key-file FILE|--key-env NAME]',
  does: "Rebuild the database's backups from the manifests in REPOSITORY (a lost database, a repository moved\nto another hub). Backups the database already knows are left as they are. A manifest that is malformed\nor not where it says it belongs (<vm>/disk-<key>/<backup-id>.json) is refused, and with it its backup.\nAn encrypted repository needs its key: its manifests are imported only when their authentication code is\nthe repository's (docs/encryption.md#what-an-attacker-cannot-plant).",
  options: OPTIONS,
  exitCodes: [
    {
      code: 0,
      when: 'the repository was read; backups imported, already known or skipped (and manifests refused) are listed',
    },
    { code: 1, when: 'the state database could not be written' },
    { code: 2, when: 'REPOSITORY is not a directory; it is encrypted and no key given opens it; or a usage error' },
  ],
  json: JSON_OUTPUT,
  run: runCatalog,
});

async function runCatalog(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  keyOption(given);
  const [action, repositoryArg, ...extra] = given.operands;
  if (action !== 'import')
    throw usageError(
      action === undefined
        ? 'catalog needs an action: catalog import REPOSITORY'
        : `unknown catalog action '${action}' (did you mean 'import'?)`,
    );
  if (repositoryArg === undefined)
    throw usageError('catalog import needs the repository directory: catalog import REPOSITORY');
  if (extra.length > 0) throw usageError(`catalog import takes one repository (got also '${extra[0]}')`);
  const repository = path.resolve(repositoryArg);
  if (!isDirectory(repository)) throw new SendenseError(`repository ${repository} is not a directory`, { exitCode: 2 });
  // Before anything is recorded: an encrypted repository's manifests are authenticated with its key.
  await requireRepositoryKey(repository);
  // A lost database is the point of this command: it is created when missing.
  const store = await openStore(cli.dbPath);
  try {
    const record = { plan: 'catalog-import', kind: 'catalog-import', trigger: 'manual' } as const;
    return await withRecordedRun(cli, store, { record }, async (run) => {
      const outcome = await importCatalog(store, repository, run.id);
      printImport(cli, outcome, repository);
    });
  } finally {
    await store.close();
  }
}

// One line (or JSON object) per backup imported, relocated or skipped, then the summary.
function printImport(cli: CliContext, outcome: ImportOutcome, repository: string): void {
  const out = (object: CatalogLine, text: string): void => {
    if (cli.json) printJson(cli, object);
    else if (!cli.quiet) cli.stdout.write(`${text}\n`);
  };
  for (const backup of outcome.imported) {
    out(
      {
        type: 'imported',
        backupId: backup.id,
        vm: backup.vm,
        kind: backup.type,
        parentId: backup.parentId,
        disks: backup.disks.map((disk) => disk.diskKey),
      },
      `imported ${backup.type} backup ${backup.id} of ${backup.vm}${backup.parentId ? ` on ${backup.parentId}` : ''} (disks ${backup.disks.map((disk) => disk.diskKey).join(', ')})`,
    );
  }
  for (const backupId of outcome.relocated)
    out(
      { type: 'relocated', backupId, repository },
      `backup ${backupId}: its files moved here; its records now name them`,
    );
  for (const skipped of outcome.skipped)
    out({ type: 'skipped', ...skipped }, `skipped backup ${skipped.backupId}: ${skipped.reason}`);
  for (const problem of outcome.problems) out({ type: 'problem', message: problem }, `skipped: ${problem}`);
  const moved = outcome.relocated.length > 0 ? `, ${outcome.relocated.length} found moved here` : '';
  const summary = `imported ${outcome.imported.length} backup(s) from ${repository}; ${outcome.known.length} already known${moved}, ${outcome.skipped.length + outcome.problems.length} skipped`;
  if (cli.json)
    printJson<CatalogLine>(cli, {
      type: 'summary',
      imported: outcome.imported.length,
      known: outcome.known.length,
      relocated: outcome.relocated.length,
      skipped: outcome.skipped.length + outcome.problems.length,
    });
  else cli.stdout.write(`${summary}\n`);
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}
