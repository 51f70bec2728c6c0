// `sendense-run backups [--vm NAME] [--verbose]`: backups grouped by VM and chain (with its plan), one aligned
// line per point (protected, kind, status, time, bytes copied, space on disk, restorable or why not), the
// space of each chain and of each repository; --verbose adds each disk's file, size and change_id.

import { listPoints, type ListedPoint } from '../core/list-points.js';
import { formatBytes } from '../format/bytes.js';
import { formatLocalTime } from '../format/local-time.js';
import { plural } from '../format/plural.js';
import { formatTable } from '../format/table.js';
import { directoryDiskUsage } from '../repository/disk-usage.js';
import { defineCommand, type CommandSpec, USAGE_ERROR } from './command.js';
import { declareOptions, rejectOperands, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, shapedLines, type JsonOutput } from '../output/json-output.js';
import { withExistingStore } from './open-existing-store.js';

const OPTIONS = declareOptions([
  { name: '--vm', value: 'NAME', help: 'only this VM' },
  { name: '--verbose', help: "each disk's file, size and change_id too" },
]);

const JSON_OUTPUT: JsonOutput = {
  intro: 'One object per backup, oldest first.',
  lines: shapedLines<{ 'a backup': ListedPoint }>({
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
    const points = await listPoints(store, { vm });
    if (cli.json) {
      for (const point of points) printJson<ListedPoint>(cli, point);
      return 0;
    }
    if (points.length === 0) {
      cli.stdout.write(vm ? `no backups of VM ${vm}\n` : 'no backups yet\n');
      return 0;
    }
    printBackups(cli, points.sort(byVmChainTime), verbose);
    return 0;
  });
}

function printBackups(cli: CliContext, points: readonly ListedPoint[], verbose: boolean): void {
  const out = (line: string) => cli.stdout.write(`${line}\n`);
  const groups = groupBy(points, (point) => `${point.vm}\0${point.repository}`);
  groups.forEach((group, g) => {
    const { vm, repository } = group[0];
    if (g > 0) out('');
    out(`VM ${vm}  repository ${repository}`);
    for (const chain of groupBy(group, (point) => point.chainId)) {
      const space = chain.reduce((total, point) => total + (point.onDiskBytes ?? 0), 0);
      // The disks of each point: in the chain's line when every point has as many (the table stays within 120 columns).
      const diskCounts = new Set(chain.map((point) => point.disks.length));
      const disks = diskCounts.size === 1 ? `, ${plural([...diskCounts][0]!, 'disk')}` : '';
      // The plan that made the chain: each plan continues only its own (docs/how-it-works.md#plans-that-share-a-vm).
      const plans = [...new Set(chain.map((point) => point.plan))].join(', ');
      out(
        `  chain ${chain[0].chainId} of plan ${plans}: ${plural(chain.length, 'point')}${disks}, ${formatBytes(space)} on disk`,
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
        chain.map((point) => [
          point.protected ? `${point.id} (protected)` : point.id,
          point.type,
          point.status,
          formatLocalTime(point.startedAt),
          ...(perPoint ? [String(point.disks.length)] : []),
          point.bytes === null ? '-' : formatBytes(point.bytes),
          point.onDiskBytes === null ? '-' : formatBytes(point.onDiskBytes),
          point.notRestorableBecause === undefined ? 'yes' : `no: ${shortReason(point, point.notRestorableBecause)}`,
          // To the minute: when it was checked is what matters, not the second.
          point.verifiedAt === null ? '-' : formatLocalTime(point.verifiedAt).slice(0, 16),
        ]),
      );
      out(`    ${table[0]}`);
      chain.forEach((point, i) => {
        out(`    ${table[i + 1]}`);
        if (verbose) for (const line of diskLines(point)) out(`      ${line}`);
      });
      // What verify found, under the table (it would make the table too wide), wrapped to 120 columns.
      for (const point of chain.filter((each) => each.status === 'damaged')) {
        for (const line of wrapText(`${point.id} damaged: ${point.damage ?? 'found by verify'}`, 112))
          out(`    ${line}`);
      }
    }
  });
  for (const repository of new Set(points.map((point) => point.repository))) {
    const total = directoryDiskUsage(repository);
    out(`\nrepository ${repository}: ${total === null ? 'not readable' : `${formatBytes(total)} on disk`}`);
  }
}

// Why a point cannot be restored, short enough for the table: what verify found is said below it.
function shortReason(point: ListedPoint, reason: string): string {
  if (point.status === 'damaged') return 'damaged';
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
function diskLines(point: ListedPoint): string[] {
  return point.disks.map((disk) => {
    const copied = disk.bytes === null ? '-' : formatBytes(disk.bytes);
    const onDisk = disk.onDiskBytes;
    return `disk ${disk.diskKey}: ${formatBytes(disk.virtualSize)} virtual, ${copied} copied, ${onDisk === null ? 'missing' : `${formatBytes(onDisk)} on disk`}, change_id ${disk.changeId ?? '-'}, ${disk.file}`;
  });
}

// Consecutive points with the same key (points are sorted).
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

function byVmChainTime(a: ListedPoint, b: ListedPoint): number {
  return (
    a.vm.localeCompare(b.vm) ||
    a.repository.localeCompare(b.repository) ||
    a.chainId.localeCompare(b.chainId) ||
    a.startedAt.localeCompare(b.startedAt)
  );
}
