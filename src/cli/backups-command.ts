// `sendense-run backups [--vm NAME] [--verbose]`: backups grouped by VM and chain (with its plan), one aligned
// line per point (protected, kind, status, time, bytes copied, space on disk, restorable or why not), the
// space of each chain and of each repository; --verbose adds each disk's file, size and change_id.

import path from 'node:path';
import type { Backup, BackupDisk } from '../store/index.js';
import { formatBytes } from '../format/bytes.js';
import { formatLocalTime } from '../format/local-time.js';
import { plural } from '../format/plural.js';
import { formatTable } from '../format/table.js';
import { qcow2HeaderProblem } from '../qemu/qcow2-header.js';
import { directoryDiskUsage, fileDiskUsage } from '../repository/disk-usage.js';
import { encryptedRepositoryOf } from '../repository/repository-keys.js';
import { defineCommand, type CommandSpec, USAGE_ERROR } from './command.js';
import { declareOptions, rejectOperands, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, shapedLines, type JsonOutput } from './json-output.js';
import { withExistingStore } from './open-existing-store.js';

interface Row {
  readonly backup: Backup;
  /** Undefined when restorable, else why not. */
  readonly notRestorable: string | undefined;
  /** Space the point's own files take (not their backing chain); null when none is there. */
  readonly onDisk: number | null;
}

const OPTIONS = declareOptions([
  { name: '--vm', value: 'NAME', help: 'only this VM' },
  { name: '--verbose', help: "each disk's file, size and change_id too" },
]);

type BackupLine = Omit<Backup, 'disks'> & {
  readonly disks: readonly (BackupDisk & { readonly onDiskBytes: number | null })[];
  readonly onDiskBytes: number | null;
  readonly encrypted: boolean;
  readonly restorable: boolean;
  readonly notRestorableBecause: string | undefined;
};

const JSON_OUTPUT: JsonOutput = {
  intro: 'One object per backup, oldest first.',
  lines: shapedLines<{ 'a backup': BackupLine }>({
    'a backup': {
      when: 'a backup',
      fields: {
        id: '',
        vm: '',
        plan: '',
        type: '`full`, `incremental`',
        chainId: '',
        parentId: '',
        status: '`running`, `complete`, `failed`, `damaged`',
        repository: '',
        startedAt: '',
        completedAt: '',
        bytes: 'copied',
        onDiskBytes: 'space its own files take',
        runId: '',
        verifiedAt: 'last `verify`, null if never',
        damage: 'what verify found, null unless damaged',
        protected: 'kept from retention and forget ([protected points](how-it-works.md#protected-points))',
        suspect:
          'why the point is suspect, in numbers ([ransomware signals](anomaly.md#when-a-point-is-suspect)); null when not',
        suspectClearedBy: 'who cleared the suspect mark (`clear`); null when not cleared',
        suspectClearedAt: 'when; null when not cleared',
        heldBy: 'the suspect point that keeps this clean point from retention and forget; null when none',
        restorable: '',
        notRestorableBecause: 'absent when restorable',
        encrypted: 'its files are in an encrypted repository: docs/encryption.md',
        disks:
          '`[{ backupId, diskKey, file, virtualSize, changeId, bytes, onDiskBytes, status, source, sourceNode, bitmap, manifest, sample }]` (`manifest`: the file was written with a manifest beside it, so a missing one is damage; `sample`: `{ sampledBlocks, incompressibleBlocks }`, how random the copied data was ([anomaly.md](anomaly.md#what-is-measured)), null when not measured)',
      },
    },
  }),
};

export const backupsCommand: CommandSpec = defineCommand({
  name: 'backups',
  usage: 'sendense-run backups [--vm NAME] [--verbose]',
  does: 'Backups by VM and chain (each chain with the plan that made it), one line per point, with the space they take on disk;\na protected point says so after its id.',
  options: OPTIONS,
  exitCodes: [{ code: 0, when: 'listed (also when there is no state database yet: it says so)' }, USAGE_ERROR],
  json: JSON_OUTPUT,
  run: runBackups,
});

async function runBackups(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  rejectOperands(given.operands, 'backups');
  const vm = given.value('--vm');
  const verbose = given.flag('--verbose');
  return withExistingStore(cli, async (store) => {
    const backups = await store.listBackups({ vm });
    const restorability = restorabilityOf(backups);
    if (cli.json) {
      const encryptedIn = encryptedDirectories();
      for (const backup of backups) {
        const notRestorable = restorability(backup);
        const disks = backup.disks.map((disk) => ({ ...disk, onDiskBytes: fileDiskUsage(disk.file) }));
        const onDisk = sumOfKnown(disks.map((disk) => disk.onDiskBytes));
        const encrypted = backup.disks.some((disk) => encryptedIn(disk.file));
        printJson<BackupLine>(cli, {
          ...backup,
          disks,
          onDiskBytes: onDisk,
          encrypted,
          restorable: notRestorable === undefined,
          notRestorableBecause: notRestorable,
        });
      }
      return 0;
    }
    const rows: Row[] = backups.map((backup) => ({
      backup,
      notRestorable: restorability(backup),
      onDisk: pointDiskUsage(backup),
    }));
    if (rows.length === 0) {
      cli.stdout.write(vm ? `no backups of VM ${vm}\n` : 'no backups yet\n');
      return 0;
    }
    printBackups(cli, rows.sort(byVmChainTime), verbose);
    return 0;
  });
}

function printBackups(cli: CliContext, rows: readonly Row[], verbose: boolean): void {
  const out = (line: string) => cli.stdout.write(`${line}\n`);
  const groups = groupBy(rows, (row) => `${row.backup.vm}\0${row.backup.repository}`);
  groups.forEach((group, g) => {
    const { vm, repository } = group[0].backup;
    if (g > 0) out('');
    out(`VM ${vm}  repository ${repository}`);
    for (const chain of groupBy(group, (row) => row.backup.chainId)) {
      const space = chain.reduce((total, row) => total + (row.onDisk ?? 0), 0);
      // The disks of each point: in the chain's line when every point has as many (the table stays within 120 columns).
      const diskCounts = new Set(chain.map((row) => row.backup.disks.length));
      const disks = diskCounts.size === 1 ? `, ${plural([...diskCounts][0]!, 'disk')}` : '';
      // The plan that made the chain: each plan continues only its own (docs/how-it-works.md#plans-that-share-a-vm).
      const plans = [...new Set(chain.map((row) => row.backup.plan))].join(', ');
      out(
        `  chain ${chain[0].backup.chainId} of plan ${plans}: ${plural(chain.length, 'point')}${disks}, ${formatBytes(space)} on disk`,
      );
      const perPoint = disks === '';
      const table = formatTable(
        [
          { header: 'ID' },
          { header: 'KIND' },
          { header: 'STATUS' },
          { header: 'TAKEN' },
          ...(perPoint ? [{ header: 'DISKS', align: 'right' as const }] : []),
          { header: 'COPIED', align: 'right' },
          { header: 'ON DISK', align: 'right' },
          { header: 'RESTORABLE' },
          { header: 'VERIFIED' },
        ],
        chain.map(({ backup, notRestorable, onDisk }) => [
          backup.protected ? `${backup.id} (protected)` : backup.id,
          backup.type,
          backup.status,
          formatLocalTime(backup.startedAt),
          ...(perPoint ? [String(backup.disks.length)] : []),
          backup.bytes === null ? '-' : formatBytes(backup.bytes),
          onDisk === null ? '-' : formatBytes(onDisk),
          notRestorable === undefined ? 'yes' : `no: ${shortReason(backup, notRestorable)}`,
          // To the minute: when it was checked is what matters, not the second.
          backup.verifiedAt === null ? '-' : formatLocalTime(backup.verifiedAt).slice(0, 16),
        ]),
      );
      out(`    ${table[0]}`);
      chain.forEach((row, i) => {
        out(`    ${table[i + 1]}`);
        if (verbose) for (const line of diskLines(row.backup)) out(`      ${line}`);
      });
      // What verify found, under the table (it would make the table too wide), wrapped to 120 columns.
      for (const { backup } of chain.filter((row) => row.backup.status === 'damaged')) {
        for (const line of wrapText(`${backup.id} damaged: ${backup.damage ?? 'found by verify'}`, 112))
          out(`    ${line}`);
      }
    }
  });
  for (const repository of new Set(rows.map((row) => row.backup.repository))) {
    const total = directoryDiskUsage(repository);
    out(`\nrepository ${repository}: ${total === null ? 'not readable' : `${formatBytes(total)} on disk`}`);
  }
}

// Why a point cannot be restored, short enough for the table: what verify found is said below it.
function shortReason(backup: Backup, reason: string): string {
  if (backup.status === 'damaged') return 'damaged';
  const parent = /^parent \S+ is (\w+)$/.exec(reason);
  return parent === null ? reason : `parent ${parent[1]}`;
}

// Words in lines of at most `width` characters (a longer word alone), the following ones indented.
function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = `  ${word}`;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

// --verbose: each disk of a point, its file and change_id.
function diskLines(backup: Backup): string[] {
  return backup.disks.map((disk) => {
    const copied = disk.bytes === null ? '-' : formatBytes(disk.bytes);
    const onDisk = fileDiskUsage(disk.file);
    return `disk ${disk.diskKey}: ${formatBytes(disk.virtualSize)} virtual, ${copied} copied, ${onDisk === null ? 'missing' : `${formatBytes(onDisk)} on disk`}, change_id ${disk.changeId ?? '-'}, ${disk.file}`;
  });
}

function pointDiskUsage(backup: Backup): number | null {
  return sumOfKnown(backup.disks.map((disk) => fileDiskUsage(disk.file)));
}

// The sum of the sizes known; null when none is.
function sumOfKnown(values: readonly (number | null)[]): number | null {
  const sizes = values.filter((size): size is number => size !== null);
  return sizes.length === 0 ? null : sizes.reduce((a, b) => a + b, 0);
}

// Consecutive rows with the same key (rows are sorted).
function groupBy<T>(rows: readonly T[], key: (row: T) => string): T[][] {
  const groups: T[][] = [];
  let last: string | undefined;
  for (const row of rows) {
    const k = key(row);
    if (k !== last || groups.length === 0) groups.push([]);
    groups[groups.length - 1].push(row);
    last = k;
  }
  return groups;
}

// Undefined when restorable, else why not; each file's header is read once and each point judged
// once as a parent (a VM may have 10,000s of points in chains of hundreds).
function restorabilityOf(backups: readonly Backup[]): (backup: Backup) => string | undefined {
  const byId = new Map(backups.map((backup) => [backup.id, backup]));
  const headers = new Map<string, string | undefined>();
  // Missing, unreadable or with a destroyed header: one read of 104 bytes per file.
  const headerProblem = (file: string) => {
    if (!headers.has(file)) headers.set(file, qcow2HeaderProblem(file));
    return headers.get(file);
  };
  // What this point's own files and record say: the walk's step, as the point itself or as a parent.
  const step = (current: Backup, self: boolean): string | undefined => {
    if (current.status === 'damaged' && self) return `damaged (${current.damage ?? 'found by verify'})`;
    if (current.status !== 'complete')
      return self ? `status ${current.status}` : `parent ${current.id} is ${current.status}`;
    for (const disk of current.disks) {
      const problem = headerProblem(disk.file);
      if (problem !== undefined) return problem;
    }
    if (current.parentId && !byId.has(current.parentId)) return `parent ${current.parentId} is not recorded`;
    return undefined;
  };
  // A parent's verdict (the walk from it up to the full): the same for every point above it.
  const asParent = new Map<string, string | undefined>();
  const parentVerdict = (first: Backup): string | undefined => {
    const walked: Backup[] = [];
    let verdict: string | undefined;
    for (
      let current: Backup | undefined = first;
      current;
      current = current.parentId ? byId.get(current.parentId) : undefined
    ) {
      if (asParent.has(current.id)) {
        verdict = asParent.get(current.id);
        break;
      }
      walked.push(current);
      verdict = step(current, false);
      if (verdict !== undefined) break;
    }
    // Every point walked shares the verdict found at or above it (all above it were sound).
    for (const point of walked) asParent.set(point.id, verdict);
    return verdict;
  };
  return (backup) => {
    const own = step(backup, true);
    if (own !== undefined) return own;
    const parent = backup.parentId ? byId.get(backup.parentId) : undefined;
    return parent === undefined ? undefined : parentVerdict(parent);
  };
}

// Whether a file lies in an encrypted repository, looked up once per directory.
function encryptedDirectories(): (file: string) => boolean {
  const known = new Map<string, boolean>();
  return (file) => {
    const directory = path.dirname(path.resolve(file));
    if (!known.has(directory)) known.set(directory, encryptedRepositoryOf(file) !== undefined);
    return known.get(directory)!;
  };
}

function byVmChainTime(a: Row, b: Row): number {
  return (
    a.backup.vm.localeCompare(b.backup.vm) ||
    a.backup.repository.localeCompare(b.backup.repository) ||
    a.backup.chainId.localeCompare(b.backup.chainId) ||
    a.backup.startedAt.localeCompare(b.backup.startedAt)
  );
}
