// `sendense-run restore VM [--point P] [--disk KEY]... --target file:PATH|dir:DIR|nbd:URL|domain:NAME
// [--path DIR] [--start] [--network none|keep] [--format qcow2|raw] [--overwrite] [--no-verify]`
// (docs/commands.md#restore): an ad-hoc restore, a restore plan made in memory
// (src/restore/adhoc-restore.ts) and run as a plan file's run is.
// The API's POST /api/v1/backups/{id}/restore runs this command as its task.

import { existsSync } from 'node:fs';
import { SendenseError, usageError } from '../errors.js';
import { parseDiskOption, parsePointOption } from '../files/backup-point.js';
import type { DiskKey } from '../plan/types.js';
import { findCompleteBackup } from '../repository/find-point.js';
import { checkRepository } from '../repository/repository-settings.js';
import { adhocRestorePlan, type AdhocRestore, type AdhocTarget } from '../restore/adhoc-restore.js';
import { targetProblem, type RestoreField } from '../restore/target-problem.js';
import { isPostgresUrl } from '../store/database-target.js';
import { openStore } from '../store/index.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { KEY_OPTIONS, keyOption } from './key-option.js';
import { runPlanNow } from './run-command.js';

const OPTIONS = declareOptions([
  {
    name: '--point',
    value: 'P',
    help: 'latest (default), a backup id, or an ISO-8601 time (the newest complete backup at or before it)',
  },
  {
    name: '--disk',
    value: 'KEY',
    repeatable: true,
    help: 'a disk to restore (repeatable; default: every disk of the point)',
  },
  {
    name: '--target',
    value: 'file:PATH|dir:DIR|nbd:URL|domain:NAME',
    help: 'where the disks go, on this host: file:PATH an image (with {key}, the disk key, when several disks are restored); dir:DIR one image per disk in DIR, named VM-KEY.FORMAT; nbd:URL NBD exports (nbd://HOST:PORT/NAME or nbd+unix:///NAME?socket=PATH, {key} when several disks); domain:NAME a new libvirt domain NAME (qemu:///system) defined from the XML stored with the point, its disks qcow2 images in --path DIR named NAME-KEY.qcow2',
  },
  { name: '--path', value: 'DIR', help: "a domain target's directory: one qcow2 image per disk, named NAME-KEY.qcow2" },
  { name: '--start', help: 'a domain target: start the new domain once defined (default: defined, not started)' },
  {
    name: '--network',
    value: 'none|keep',
    help: "a domain target: none (default) the new domain has no network interface; keep its interfaces stay on the original's networks with new MAC addresses",
  },
  { name: '--format', value: 'qcow2|raw', help: 'the images of a file or dir target (default qcow2)' },
  {
    name: '--overwrite',
    help: 'an existing target file is replaced, once the restore has succeeded (written beside it, renamed into place); without it an existing file is refused',
  },
  { name: '--no-verify', help: 'do not compare the restored disks with the backup chain afterwards' },
  {
    name: '--repository',
    value: 'PATH',
    help: 'the repository to read when the VM has points in several (not needed with a backup id)',
  },
  ...KEY_OPTIONS,
]);

export const restoreCommand: CommandSpec = defineCommand({
  name: 'restore',
  usage:
    'sendense-run restore VM [--point P] [--disk KEY]... --target file:PATH|dir:DIR|nbd:URL|domain:NAME [--path DIR] [--start] [--network none|keep] [--format qcow2|raw] [--overwrite] [--no-verify] [--repository PATH] [--key-file FILE|--key-env NAME]',
  does: "Write a point's disks back out now, without a plan file: a restore plan made from these options\n(docs/plan-reference.md#when-kind-is-restore) and run as `sendense-run PLAN.yaml` runs one: the same\nsteps, checks, verification and history (under the plan name restore-VM). The target is checked\nfirst: an absolute path, never inside the repository, an existing file only with --overwrite.",
  options: OPTIONS,
  exitCodes: [
    { code: 0, when: 'the disks were restored (and verified, unless --no-verify) and put in place' },
    { code: 1, when: 'the restore failed (its error is in history); a target it had not finished is removed' },
    {
      code: 2,
      when: 'bad options; no such VM, backup or disk; the target refused (not absolute, inside the repository, an existing file without --overwrite); nothing was written',
    },
    { code: 130, when: 'interrupted by SIGINT, SIGTERM or SIGHUP, after cleanup' },
  ],
  json: {
    intro:
      "A restore prints [a run's events](#a-run-sendense-run-planyaml---json), as `sendense-run PLAN.yaml --json` does: `run-start` (its `plan` is `restore-VM`) to `run-end` (its `backupId` the point restored).",
    lines: { typed: true, lines: {} },
  },
  run: runRestore,
});

// How the CLI names each input a target problem blames.
const OPTION_OF: Readonly<Record<RestoreField, string>> = {
  'target.path': '--target',
  'target.url': '--target',
  'target.domain': '--target',
  disks: '--disk',
  overwrite: '--overwrite',
};

async function runRestore(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  const key = keyOption(given);
  const [vm, ...extra] = given.operands;
  if (vm === undefined) throw usageError(`restore needs a VM name (usage: ${restoreCommand.usage})`);
  if (extra.length > 0) throw usageError(`restore takes one VM (got '${extra[0]}' too)`);
  const targetText = given.value('--target');
  if (targetText === undefined) throw usageError('restore needs --target file:PATH, dir:DIR, nbd:URL or domain:NAME');
  const target = parseTarget(targetText, given.value('--format'), domainOptions(given));
  const point = parsePointOption(given.value('--point'));
  const requested = parseDiskKeys(given.values('--disk'));
  const repositoryOption = given.value('--repository');
  if (repositoryOption === '') throw usageError('--repository needs the path of a repository');
  // A mistyped --db must not become a new, empty state database.
  if (!isPostgresUrl(cli.dbPath) && !existsSync(cli.dbPath))
    throw usageError(`no state database at ${cli.dbPath}: there is no backup of VM ${vm} to restore`);

  const store = await openStore(cli.dbPath);
  let restore: AdhocRestore;
  try {
    const repository = repositoryOption ?? (point.type === 'id' ? undefined : await onlyRepository(store, vm));
    // The point pinned now: the run restores the backup checked here, even if a newer one completes meanwhile.
    const backup = await findCompleteBackup(store, { vm, point, repository, reader: 'restore' });
    const keys = backup.disks.map((disk) => disk.diskKey);
    const missing = requested?.find((key) => !keys.includes(key));
    if (missing !== undefined)
      throw usageError(
        `--disk ${missing}: backup ${backup.id} of VM ${vm} has no such disk (it has ${keys.join(', ')})`,
      );
    restore = {
      vm,
      point: backup.id,
      repository: backup.repository,
      disks: requested,
      target,
      overwrite: given.flag('--overwrite'),
      verify: !given.flag('--no-verify'),
      key,
    };
    const problem = targetProblem(restore, requested ?? keys);
    if (problem !== undefined) {
      const hint = problem.field === 'overwrite' ? ' (give --overwrite to replace it)' : '';
      const option = target.kind === 'domain' && problem.field === 'target.path' ? '--path' : OPTION_OF[problem.field];
      throw usageError(`${option}: ${problem.message}${hint}`);
    }
    // An encrypted repository without a key that opens it: refused now (exit 2), not a failed run.
    await checkRepository({ path: backup.repository, ...(key === undefined ? {} : { encryption: key }) });
  } finally {
    await store.close();
  }
  return runPlanNow(cli, adhocRestorePlan(restore));
}

// A domain target's own options, as given (refused with any other target).
interface DomainOptions {
  readonly path?: string;
  readonly start: boolean;
  readonly network?: string;
}

function domainOptions(given: GivenOptions<typeof OPTIONS>): DomainOptions {
  return { path: given.value('--path'), start: given.flag('--start'), network: given.value('--network') };
}

function parseTarget(text: string, format: string | undefined, domain: DomainOptions): AdhocTarget {
  if (format !== undefined && format !== 'qcow2' && format !== 'raw')
    throw usageError(`--format: must be qcow2 or raw (got '${format}')`);
  const colon = text.indexOf(':');
  const kind = colon === -1 ? '' : text.slice(0, colon);
  const rest = text.slice(colon + 1);
  if (kind === 'domain') return domainTarget(rest, format, domain);
  const stray =
    domain.path !== undefined
      ? '--path'
      : domain.start
        ? '--start'
        : domain.network !== undefined
          ? '--network'
          : undefined;
  if (stray !== undefined) throw usageError(`${stray} goes with a domain target (--target domain:NAME)`);
  if (kind === 'nbd') {
    if (format !== undefined) throw usageError('--format goes with a file or dir target, not nbd');
    return { kind: 'nbd', url: rest };
  }
  if (kind !== 'file' && kind !== 'dir')
    throw usageError(`--target: must be file:PATH, dir:DIR, nbd:URL or domain:NAME (got '${text}')`);
  if (rest === '') throw usageError(`--target ${kind}: needs a path`);
  return { kind, path: rest, format: format ?? 'qcow2' };
}

function domainTarget(name: string, format: string | undefined, options: DomainOptions): AdhocTarget {
  if (name === '') throw usageError("--target domain: needs the new domain's name");
  if (format !== undefined && format !== 'qcow2') throw usageError('--format: a domain target writes qcow2 images');
  if (options.path === undefined || options.path === '')
    throw usageError('--target domain: needs --path DIR, the directory of its disk images');
  const network = options.network ?? 'none';
  if (network !== 'none' && network !== 'keep') throw usageError(`--network: must be none or keep (got '${network}')`);
  return { kind: 'domain', domain: name, path: options.path, start: options.start, network };
}

function parseDiskKeys(values: readonly string[]): readonly DiskKey[] | undefined {
  if (values.length === 0) return undefined;
  const keys = values.map((value) => parseDiskOption(value)!);
  const twice = keys.find((key, index) => keys.indexOf(key) !== index);
  if (twice !== undefined) throw usageError(`--disk ${twice} is given twice`);
  return keys;
}

// latest or a time names a point of one repository: the VM's only one, else --repository says which.
async function onlyRepository(store: Awaited<ReturnType<typeof openStore>>, vm: string): Promise<string | undefined> {
  const repositories = [...new Set((await store.listBackups({ vm })).map((backup) => backup.repository))];
  if (repositories.length <= 1) return repositories[0];
  throw new SendenseError(
    `VM ${vm} has points in ${repositories.length} repositories (${repositories.join(', ')}): give --repository PATH or a backup id`,
    { exitCode: 2 },
  );
}
