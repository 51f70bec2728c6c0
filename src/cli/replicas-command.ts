// `sendense-run replicas [--plan NAME]` (docs/replication.md#listing-the-points): per replicate plan, a header
// with its replica node, how far its newest point is behind (now - taken) and whether it is failed
// over, then its complete points newest first: id, taken, age, kind, bytes written.
// `replicas --verify PLAN.yaml` (docs/replication.md#digests): each of the plan's complete points
// read on its replica node and compared with its digests; exit 1 when one differs.

import { listReplicas, type ListedReplica } from '../core/list-replicas.js';
import { usageError } from '../errors.js';
import { formatBytes } from '../format/bytes.js';
import { formatDuration } from '../format/duration.js';
import { formatLocalTime } from '../format/local-time.js';
import { plural } from '../format/plural.js';
import { formatTable } from '../format/table.js';
import { defineCommand, type CommandSpec, USAGE_ERROR } from './command.js';
import { declareOptions, rejectOperands, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, shapedLines, type JsonOutput } from '../output/json-output.js';
import { withExistingStore } from './open-existing-store.js';
import { verifyReplicas, type LayerLine, type NoPointLine } from './verify-replicas.js';

const OPTIONS = declareOptions([
  { name: '--plan', value: 'NAME', help: 'only this plan' },
  {
    name: '--verify',
    value: 'PLAN.yaml',
    help: "check this replicate plan's points on its replica node against their digests",
  },
]);

const JSON_OUTPUT: JsonOutput = {
  intro:
    "One object per replicate plan. With `--verify PLAN.yaml`: one object per layer checked, the plan's points oldest first; with no complete point, one `{ plan, checked: 0 }` ([replication.md](replication.md#digests)).",
  lines: shapedLines<{
    'a replicate plan': ListedReplica;
    '`--verify`: a layer': LayerLine;
    '`--verify`: no point': NoPointLine;
  }>({
    'a replicate plan': {
      when: 'without `--verify`',
      fields: {
        plan: '',
        vm: '',
        replicaNode: '',
        lagSeconds: "the newest point's age",
        failover: 'null, or `{ plan, pointId, runId, domain, node, at }`',
        points:
          '`[{ id, takenAt, ageSeconds, type, chainId, parentId, bytes, disks: [{ key, path, layer, virtualSize, bytes }] }]`, newest first',
      },
    },
    '`--verify`: a layer': {
      when: 'a layer checked',
      fields: {
        point: '',
        disk: '',
        layer: '',
        state:
          '`good`, `damaged`, `no-digests` (a point made before replicas had digests) or `skipped` (with `note`: the layer a failed-over domain writes)',
        findings: '`[{ offset, message }]`',
        bytesRead: '',
        note: 'skipped only',
      },
    },
    '`--verify`: no point': { when: 'the plan has no complete point', fields: { plan: '', checked: '0' } },
  }),
};

export const replicasCommand: CommandSpec = defineCommand({
  name: 'replicas',
  usage: 'sendense-run replicas [--plan NAME] | replicas --verify PLAN.yaml',
  does: [
    "Replicate plans and their complete points on the replica node, newest first, with each plan's lag",
    '(how long ago its newest point was taken) and whether it is failed over.',
    "With --verify: read each complete point's own layer of every disk on the plan's replica node and",
    'compare it with the digests its sync recorded; a difference names point, disk and guest offset. A',
    'point made before replicas had digests is said to have none, which is not damage.',
  ].join('\n'),
  options: OPTIONS,
  exitCodes: [
    {
      code: 0,
      when: 'listed (also when there is no state database yet: it says so); with --verify: no point differs from its digests',
    },
    {
      code: 1,
      when: "with --verify: a point's layer differs from its digests or is gone, or the replica node could not be read",
    },
    { code: 2, when: `${USAGE_ERROR.when}; with --verify also a file that is not a valid replicate plan` },
  ],
  json: JSON_OUTPUT,
  run: runReplicas,
});

async function runReplicas(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  rejectOperands(given.operands, 'replicas');
  const verify = given.value('--verify');
  const plan = given.value('--plan');
  if (verify !== undefined) {
    if (plan !== undefined) throw usageError('replicas --verify takes no --plan (the plan file names it)');
    return verifyReplicas(cli, verify);
  }
  return withExistingStore(cli, async (store) => {
    const replicas = await listReplicas(store, { plan });
    if (cli.json) {
      for (const replica of replicas) printJson<ListedReplica>(cli, replica);
      return 0;
    }
    if (replicas.length === 0) {
      cli.stdout.write(plan ? `no replica points of plan ${plan}\n` : 'no replicas yet\n');
      return 0;
    }
    replicas.forEach((replica, i) => {
      if (i > 0) cli.stdout.write('\n');
      for (const line of replicaLines(replica)) cli.stdout.write(`${line}\n`);
    });
    return 0;
  });
}

function replicaLines({ plan, vm, replicaNode, lagSeconds, failover, points }: ListedReplica): string[] {
  if (points.length === 0) return [`plan ${plan}: no complete point yet`];
  const lines = [
    `plan ${plan} (VM ${vm}), replica on ${replicaNode}: ${plural(points.length, 'point')}, newest ${formatDuration(lagSeconds!)} behind`,
  ];
  if (failover !== null)
    lines.push(
      `  FAILED OVER at ${formatLocalTime(failover.at)} to point ${failover.pointId}: ${failover.domain} runs on ${failover.node}; syncs stopped`,
    );
  const table = formatTable(
    [
      { header: 'POINT' },
      { header: 'TAKEN' },
      { header: 'AGE', align: 'right' },
      { header: 'KIND' },
      { header: 'DISKS', align: 'right' },
      { header: 'WRITTEN', align: 'right' },
    ],
    points.map((point) => [
      point.id,
      formatLocalTime(point.takenAt),
      formatDuration(point.ageSeconds),
      point.type,
      String(point.disks.length),
      point.bytes === null ? '-' : formatBytes(point.bytes),
    ]),
  );
  return [...lines, ...table.map((line) => `  ${line}`)];
}
