// `sendense-run files VM [--point P] [--disk KEY] [NAME:/PATH] [--get NAME:/PATH... --to TARGET
// [--overwrite] [--keep-setuid]]` (docs/file-level-restore.md): a point's filesystems, a directory
// of one, or files and folders extracted — all through one libguestfs appliance, the repository only
// read; that appliance kept warm by a files session (../files/session/) unless --no-session.

import { SendenseError, usageError } from '../errors.js';
import { asUserError } from '../files/guest-files.js';
import { findPointFile, parseDiskOption, parsePointOption } from '../files/backup-point.js';
import { checkExtractTarget, parseExtractTarget, type ExtractTarget } from '../files/extract-target.js';
import { createLocalNode } from '../node/local.js';
import { refuseInsideRepository } from '../repository/containing-repository.js';
import type { DiskLayout } from '../files/filesystems.js';
import type { GuestEntry } from '../files/guest-files.js';
import { escapeGuestName } from '../files/guest-name.js';
import type { ExtractedPath, ExtractResult } from '../files/extract.js';
import { entryJson, filesystemsJson, isoTime, type EntryJson, type FilesystemJson } from '../files/files-json.js';
import { formatGuestPath, parseGuestPath, type GuestPath } from '../files/guest-path.js';
import { openPoint } from '../files/open-point.js';
import { fastExtract, fastListing, type FilesReader } from '../files/fast/fast-listing.js';
import { emptyDiskTable } from '../files/fast/empty-disk.js';
import { pointReaderOf, type PointReader } from '../files/point-reader.js';
import { openSessionReader } from '../files/session/session-client.js';
import type { Output } from '../engine/output.js';
import { chainSecret } from '../qemu/image-opts.js';
import type { KeySource } from '../repository/user-key.js';
import type { Store } from '../store/index.js';
import type { DiskKey, RestorePoint } from '../plan/types.js';
import { formatBytes } from '../format/bytes.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, parseCommandOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { KEY_OPTIONS, keyOption } from './key-option.js';
import { withExistingStore } from './open-existing-store.js';
import {
  FILES_SESSION_OPTIONS,
  filesSessionCommand,
  listSessions,
  parseIdleSeconds,
  sessionWanted,
  stopSessions,
  type SessionLine,
  type SessionStoppedLine,
} from './files-sessions.js';
import { printJson, shapedLines, type JsonOutput } from '../output/json-output.js';

const OPTIONS = declareOptions([
  {
    name: '--point',
    value: 'P',
    help: 'latest (default), a backup id, or an ISO-8601 time (the newest backup at or before it)',
  },
  { name: '--disk', value: 'KEY', help: "the disk key (default: the backup's first disk)" },
  { name: '--get', value: 'NAME:/PATH', list: true, help: 'a file or folder to extract (repeatable)' },
  {
    name: '--to',
    value: 'TARGET',
    help: 'where extracted files go: a directory, FILE.tar, FILE.tar.gz or FILE.zip (never inside a repository)',
  },
  { name: '--overwrite', help: 'replace an existing archive, or same-named entries in a non-empty directory' },
  {
    name: '--keep-setuid',
    help: "keep the setuid/setgid bits of extracted files and folders, in a directory or an archive (default: cleared, so a guest's setuid-root program is no such program here)",
  },
  {
    name: '--appliance',
    help: 'list a directory or extract files through the libguestfs appliance even where the fast path (debugfs for ext2/3/4, ntfs-3g for NTFS, the FAT walker for FAT) would read them',
  },
  ...KEY_OPTIONS,
  ...FILES_SESSION_OPTIONS,
]);

type ExtractedLine = ExtractedPath & { readonly to: string };
type ListedLine = EntryJson & { readonly reader: FilesReader };

const JSON_OUTPUT: JsonOutput = {
  intro:
    'Without a path, one object per filesystem of the disk; with `NAME:/DIR`, one per entry; with `--get … --to`, one per path extracted ([file-level-restore.md](file-level-restore.md)). `--sessions`: one per files session; `--stop-sessions`: one per session stopped.',
  lines: shapedLines<{
    'a filesystem': FilesystemJson;
    'an entry': ListedLine;
    'a path extracted': ExtractedLine;
    'a session': SessionLine;
    'a session stopped': SessionStoppedLine;
  }>({
    'a filesystem': {
      when: 'without a path',
      fields: {
        name: 'what `NAME:/PATH` takes',
        device: '',
        type: 'ext4, xfs, vfat, ntfs, btrfs, swap, unknown…',
        label: '',
        uuid: '',
        size: '',
        os: 'optional: the operating system whose root it is',
        partitionTable: '',
      },
    },
    'an entry': {
      when: '`NAME:/DIR`',
      fields: {
        name: '',
        type: 'file, directory, symlink, char, block, fifo, socket',
        size: '',
        mode: '"0755"',
        uid: '',
        gid: '',
        mtime: '',
        target: 'optional',
        nameBytes: 'base64, for a name that is not UTF-8',
        targetBytes: 'base64, for a target that is not UTF-8',
        reader:
          '`debugfs` (the fast path, an ext2/3/4 filesystem), `ntfs-3g` (the fast path, NTFS), `fat-walker` (the fast path, FAT) or `appliance`',
      },
    },
    'a path extracted': {
      when: '`--get … --to`',
      fields: { from: '', name: '', type: '', bytes: '', to: '' },
    },
    'a session': {
      when: '`--sessions`',
      fields: {
        type: '`files-session`',
        via: "`files` (a `files` command's session) or `api` (a browse session of the API server, whose PID `pid` is)",
        pid: '',
        vm: '',
        backupId: '',
        disk: '',
        repository: '',
        state: '`open`, `opening` or `gone`',
        appliancePid: 'null unless open',
        appliancesStarted: 'null unless open',
        calls: 'null unless open',
        idleSeconds: '',
        since: '',
        dir: "its socket directory; an API session's name (`api:PID:ID`)",
      },
    },
    'a session stopped': {
      when: '`--stop-sessions`',
      fields: { type: '`files-session-stopped`', pid: '', vm: '', backupId: '', wasRunning: '' },
    },
  }),
};

const declared = defineCommand({
  name: 'files',
  usage:
    'sendense-run files VM [--point P] [--disk KEY] [--key-file FILE|--key-env NAME] [--no-session|--session-idle S] [NAME:/PATH] [--get NAME:/PATH... --to DIR|FILE.tar|FILE.tar.gz|FILE.zip [--overwrite] [--keep-setuid]] | files --sessions | files --stop-sessions [VM]',
  does: "List a backed-up disk's partitions and filesystems (p1, vg0/root, disk), list a directory of one\n(NAME:/PATH), or extract files and folders (--get ... --to), read-only through a libguestfs appliance.\nA directory of an ext2/3/4, NTFS or FAT filesystem is listed, and its files and symlinks extracted, without one,\nby debugfs, ntfs-3g's tools or our FAT walker as an unprivileged user (--appliance: not).\nDevice nodes and FIFOs are never extracted (one line each says so); sparse files stay sparse.\nA point of an encrypted repository needs its key (--key-file or --key-env): the appliance reads it\nthrough a read-only qemu-nbd, recorded as a run of kind files so doctor stops it if files is killed.\nAt a terminal (or with --session) the appliance stays open in a files session (a process of this user's,\nrecorded in the state database) until unused for --session-idle seconds: the next files call of the same\npoint answers at once. Scripts and pipes (no terminal) open the point for the one call, as --no-session does.",
  options: OPTIONS,
  exitCodes: [
    { code: 0, when: 'listed or extracted' },
    {
      code: 1,
      when: "the point, disk or path could not be read, or the target could not be written; a files session's directory is not this user's alone (refused, nothing connected to)",
    },
    {
      code: 2,
      when: 'bad NAME:/PATH, --point, --disk or --to; no such VM or backup; the point is encrypted and no key given opens it (nothing was started); or a usage error',
    },
    { code: 130, when: 'interrupted: the appliance was stopped and nothing was left in the target' },
  ],
  json: JSON_OUTPUT,
  run: (cli, given) => runGiven(cli, given),
});

// `files --serve-session …` is the session process itself, started by files (not declared: not for users).
export const filesCommand: CommandSpec = {
  ...declared,
  run: (cli, args) => filesSessionCommand(args)?.(cli) ?? declared.run(cli, args),
};

function runGiven(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  if (given.flag('--sessions') || given.flag('--stop-sessions')) {
    const which = given.flag('--sessions') ? '--sessions' : '--stop-sessions';
    const others = given.named.filter((name) => name !== which);
    if (others.length > 0) throw usageError(`files ${which} takes no other option (got ${others[0]})`);
    return which === '--sessions' ? listSessions(cli, given.operands) : stopSessions(cli, given.operands);
  }
  return runFiles(cli, filesRequest(given, process.env, isInteractive()));
}

// Someone at a terminal (docs/file-level-restore.md#files-sessions): stdin or stdout is one.
function isInteractive(): boolean {
  return process.stdin.isTTY === true || process.stdout.isTTY === true;
}

async function runFiles(cli: CliContext, request: FilesRequest): Promise<number> {
  // Refused before the appliance starts: a user should not wait half a minute to hear it.
  if (request.target) checkExtractTarget(request.target, request.overwrite);

  return withExistingStore(cli, async (store) => {
    if (request.target)
      await refuseInsideRepository(createLocalNode(), store, request.target.path, `--to ${request.target.path}`);
    if (request.directory && !request.appliance && (await listedFast(cli, store, request, request.directory))) return 0;
    if (request.target && !request.appliance && (await extractedFast(cli, store, request, request.target))) return 0;
    if (!request.target && !request.directory) await refuseEmptyDisk(store, request);
    return request.session ? filesThroughSession(cli, store, request) : filesOnOwnAppliance(cli, store, request);
  });
}

// The filesystems each fast-path reader reads, for what stderr says.
const FAST_FILESYSTEMS = { debugfs: 'ext2/3/4', 'ntfs-3g': 'NTFS', 'fat-walker': 'FAT' } as const;

// An ext2/3/4, NTFS or FAT directory listed in user space, no appliance (docs/file-level-restore.md#the-fast-path);
// false when the fast path does not read that filesystem (the appliance lists it).
async function listedFast(
  cli: CliContext,
  store: Store,
  request: FilesRequest,
  directory: GuestPath,
): Promise<boolean> {
  const point = await findPointFile(store, request.vm, request.point, request.disk);
  const listed = await fastListing(point, directory);
  if (listed === undefined) return false;
  noteTo(cli)(
    `${directory.fs} is ${FAST_FILESYSTEMS[listed.reader]}: listed by ${listed.reader} in user space (no appliance; --appliance uses one)`,
  );
  printDirectory(cli, directory, listed.entries, point.where, listed.reader);
  return true;
}

// A disk with nothing on it is said at once, not after an appliance start (docs/file-level-restore.md#the-fast-path).
async function refuseEmptyDisk(store: Store, request: FilesRequest): Promise<void> {
  const point = await findPointFile(store, request.vm, request.point, request.disk);
  const table = await emptyDiskTable(point);
  if (table !== undefined)
    throw new SendenseError(`${point.where} has no filesystem that can be read (partition table: ${table})`);
}

// Files and symlinks of ext2/3/4 and NTFS filesystems extracted in user space, no appliance; false when the fast
// path does not read one of them (a folder, another filesystem: the appliance extracts them all).
async function extractedFast(
  cli: CliContext,
  store: Store,
  request: FilesRequest,
  target: ExtractTarget,
): Promise<boolean> {
  const point = await findPointFile(store, request.vm, request.point, request.disk);
  const result = await fastExtract(point, request.wanted, target, {
    overwrite: request.overwrite,
    keepSetuid: request.keepSetuid,
    progress: noteTo(cli),
  });
  if (result === undefined) return false;
  const by = result.readers.map((reader) => `${reader} (${FAST_FILESYSTEMS[reader]})`).join(' and ');
  noteTo(cli)(`read by ${by} in user space (no appliance; --appliance uses one)`);
  printExtracted(cli, result, point.where);
  return true;
}

// The point opened for this command alone, closed when it ends.
async function filesOnOwnAppliance(cli: CliContext, store: Store, request: FilesRequest): Promise<number> {
  const opened = await openPoint(store, {
    vm: request.vm,
    point: request.point,
    disk: request.disk,
    note: noteTo(cli),
    inspect: !request.target && !request.directory,
    command: 'files',
  });
  let failure: unknown;
  try {
    await whileInterruptible(
      () => opened.kill(),
      () => filesOnPoint(cli, pointReaderOf(opened), request),
    );
    return 0;
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    await opened.close(failure);
  }
}

// The point's files session (started if need be) does the work; this command prints it. An
// encrypted point's key is checked here first, as filesOnOwnAppliance's openPoint checks it.
async function filesThroughSession(cli: CliContext, store: Store, request: FilesRequest): Promise<number> {
  const found = await findPointFile(store, request.vm, request.point, request.disk);
  const encrypted = chainSecret(found.disk.file) !== undefined;
  const reader = await openSessionReader(store, found, {
    dbPath: cli.dbPath,
    idleSeconds: request.idleSeconds,
    key: request.key,
    encrypted,
    note: noteTo(cli),
  });
  await whileInterruptible(
    () => reader.interrupt(),
    () => filesOnPoint(cli, reader, request),
  );
  return 0;
}

// Ctrl+C (or SIGTERM) stops the appliance: the work fails, and says it was interrupted (exit 130).
async function whileInterruptible(stop: () => void, work: () => Promise<void>): Promise<void> {
  let interrupted = false;
  const interrupt = () => {
    interrupted = true;
    stop();
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    await work();
  } catch (error) {
    throw interrupted
      ? new SendenseError('interrupted: the appliance was stopped and nothing was left in the target', {
          exitCode: 130,
          cause: error,
        })
      : asUserError(error);
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

/** What a `files` command line asks for (usage errors thrown as such). */
export interface FilesRequest {
  readonly vm: string;
  readonly point: RestorePoint;
  readonly disk?: DiskKey;
  /** --appliance: the listing through the appliance even where the fast path reads the filesystem. */
  readonly appliance: boolean;
  /** --get NAME:/PATH... */
  readonly wanted: readonly GuestPath[];
  /** NAME:/PATH to list. */
  readonly directory?: GuestPath;
  /** --to */
  readonly target?: ExtractTarget;
  readonly overwrite: boolean;
  readonly keepSetuid: boolean;
  /** Through a files session (at a terminal, or --session; docs/file-level-restore.md#files-sessions). */
  readonly session: boolean;
  /** --session-idle: of a session this command starts. */
  readonly idleSeconds: number;
  /** --key-file / --key-env: for a session this command starts on an encrypted point. */
  readonly key?: KeySource;
}

export function parseFilesArgs(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  interactive = false,
): FilesRequest {
  return filesRequest(parseCommandOptions(args, { name: 'files', options: OPTIONS }), env, interactive);
}

function filesRequest(given: GivenOptions<typeof OPTIONS>, env: NodeJS.ProcessEnv, interactive: boolean): FilesRequest {
  const key = keyOption(given);
  const gets = given.values('--get');
  if (given.named.includes('--get') && gets.length === 0) throw usageError('--get needs at least one NAME:/PATH');
  const to = given.value('--to');
  const keepSetuid = given.flag('--keep-setuid');
  const [vm, listing, ...extra] = given.operands;
  if (vm === undefined) throw usageError('files needs a VM name (see sendense-run help files)');
  if (extra.length > 0)
    throw usageError(`files lists one directory at a time (got '${extra[0]}' too); to extract several paths use --get`);
  if (gets.length > 0 && listing !== undefined)
    throw usageError(`give either a directory to list (${listing}) or --get, not both`);
  if (gets.length > 0 && to === undefined) throw usageError('--get needs --to DIR|FILE.tar|FILE.tar.gz|FILE.zip');
  if (gets.length === 0 && to !== undefined) throw usageError('--to goes with --get NAME:/PATH...');
  const appliance = given.flag('--appliance');
  if (appliance && listing === undefined && gets.length === 0)
    throw usageError(
      '--appliance goes with a directory to list (NAME:/PATH) or --get: the rest always uses the appliance',
    );
  if (gets.length === 0 && keepSetuid) throw usageError('--keep-setuid goes with --get NAME:/PATH... --to TARGET');
  const idle = given.value('--session-idle');
  const session = sessionWanted(given.flag('--session'), given.flag('--no-session'), env, interactive);
  if (!session && idle !== undefined)
    throw usageError('--session-idle goes with a files session (--session, or a terminal), not without one');
  return {
    vm,
    point: parsePointOption(given.value('--point')),
    disk: parseDiskOption(given.value('--disk')),
    wanted: gets.map(parseGuestPath),
    directory: listing === undefined ? undefined : parseGuestPath(listing),
    target: to === undefined ? undefined : parseExtractTarget(to),
    overwrite: given.flag('--overwrite'),
    keepSetuid,
    appliance,
    session,
    idleSeconds: parseIdleSeconds(idle),
    ...(key === undefined ? {} : { key }),
  };
}

/** The command's work on a point already open: the layout, a directory, or the extraction, printed. */
export async function filesOnPoint(cli: Output, reader: PointReader, request: FilesRequest): Promise<void> {
  if (request.target) {
    const target = request.target;
    const result = await reader.extract(request.wanted, target, {
      overwrite: request.overwrite,
      keepSetuid: request.keepSetuid,
      progress: noteTo(cli),
    });
    printExtracted(cli, result, reader.where);
  } else if (request.directory) {
    printDirectory(cli, request.directory, await reader.list(request.directory), reader.where, 'appliance');
  } else {
    printLayout(cli, await reader.layout(), reader.where);
  }
}

function printExtracted(cli: Output, result: ExtractResult, where: string): void {
  const to = result.target.path;
  if (cli.json) {
    for (const extracted of result.paths) printJson<ExtractedLine>(cli, { ...extracted, to });
  } else {
    cli.stdout.write(
      `extracted ${result.paths.map((p) => p.from).join(', ')} from ${where} to ${to} (${formatBytes(result.bytes)} streamed)\n`,
    );
  }
}

// What is being started and what was skipped, one line each on stderr (not with --quiet).
export function noteTo(cli: Output): (line: string) => void {
  return (line) => {
    if (!cli.quiet) cli.stderr.write(`${line}\n`);
  };
}

// --get takes every following argument that is not an option.
function printLayout(cli: Output, layout: DiskLayout, where: string): void {
  if (cli.json) {
    for (const fs of filesystemsJson(layout)) printJson<FilesystemJson>(cli, fs);
    return;
  }
  cli.stdout.write(`${where}: partition table ${layout.partitionTable}\n`);
  const rows = layout.filesystems.map((fs) => [
    fs.name,
    fs.type,
    fs.label || '-',
    formatBytes(fs.size),
    fs.uuid || '-',
    fs.os ?? '',
  ]);
  printTable(cli, ['NAME', 'TYPE', 'LABEL', 'SIZE', 'UUID', 'OS'], rows);
}

function printDirectory(
  cli: Output,
  where: GuestPath,
  entries: readonly GuestEntry[],
  point: string,
  reader: FilesReader,
): void {
  if (cli.json) {
    for (const entry of entries) printJson<ListedLine>(cli, { ...entryJson(entry), reader });
    return;
  }
  cli.stdout.write(
    `${formatGuestPath(where)} in ${point}: ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}\n`,
  );
  const rows = entries.map((entry) => [
    modeString(entry),
    `${entry.uid}:${entry.gid}`,
    String(entry.size),
    isoTime(entry.mtime)
      .replace('T', ' ')
      .replace(/\.\d+Z$|Z$/, ''),
    shownName(entry.name, entry.nameBytes) +
      (entry.type === 'directory' ? '/' : '') +
      (entry.target !== undefined ? ` -> ${shownName(entry.target, entry.targetBytes)}` : ''),
  ]);
  printTable(cli, ['MODE', 'OWNER', 'SIZE', 'MTIME (UTC)', 'NAME'], rows, [2]);
}

// One line whatever the name holds (a newline, an escape sequence, bytes that are not UTF-8).
function shownName(name: string, bytes: Buffer | undefined): string {
  return escapeGuestName(bytes ?? Buffer.from(name, 'utf8'));
}

const TYPE_LETTERS: Readonly<Record<GuestEntry['type'], string>> = {
  file: '-',
  directory: 'd',
  symlink: 'l',
  char: 'c',
  block: 'b',
  fifo: 'p',
  socket: 's',
};

// -rw-r--r--, with s/S and t/T for setuid, setgid and sticky, as ls shows them.
export function modeString(entry: Pick<GuestEntry, 'type' | 'mode'>): string {
  const m = entry.mode;
  const triplet = (shift: number, special: boolean, letter: string) => {
    const bits = (m >> shift) & 7;
    const x = bits & 1 ? (special ? letter : 'x') : special ? letter.toUpperCase() : '-';
    return `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${x}`;
  };
  return (
    TYPE_LETTERS[entry.type] +
    triplet(6, (m & 0o4000) !== 0, 's') +
    triplet(3, (m & 0o2000) !== 0, 's') +
    triplet(0, (m & 0o1000) !== 0, 't')
  );
}

function printTable(
  cli: Output,
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAligned: readonly number[] = [],
): void {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) =>
        i === cells.length - 1 ? cell : rightAligned.includes(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]),
      )
      .join('  ')
      .trimEnd();
  cli.stdout.write(`${line(header)}\n`);
  for (const row of rows) cli.stdout.write(`${line(row)}\n`);
}
