// `sendense-run replicas [--plan NAME]` (docs/replication.md#listing-the-points): per replicate plan, a header
// with its replica node, how far its newest point is behind (now - taken) and whether it is failed
// over, then its complete points newest first: id, taken, age, kind, bytes written.
// `replicas --verify PLAN.yaml` (docs/replication.md#digests): each of the plan's complete points
// read on its replica node and compared with its digests; exit 1 when one differs.

import { usageError } from '../errors.js';
import { formatBytes } from '../format/bytes.js';
import { formatDuration } from '../format/duration.js';
import { formatLocalTime } from '../format/local-time.js';
import { plural } from '../format/plural.js';
import { formatTable } from '../format/table.js';
import { pointAge } from '../failover/failover-point.js';
import { pointTime } from '../replica/replica-points.js';
import type { ReplicaFailover, ReplicaPoint, Store } from '../store/index.js';
import { defineCommand, type CommandSpec, USAGE_ERROR } from './command.js';
import { declareOptions, rejectOperands, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, shapedLines, type JsonOutput } from '../output/json-output.js';
import { withExistingStore } from './open-existing-store.js';
import { verifyReplicas, type LayerLine, type NoPointLine } from './verify-replicas.js';

interface Replica {
  readonly plan: string;
  /** Newest first. */
  readonly points: readonly ReplicaPoint[];
  readonly failover: ReplicaFailover | undefined;
}

const OPTIONS = declareOptions([
  { name: '--plan', value: 'NAME', help: 'only this plan' },
  {
    name: '--verify',
    value: 'PLAN.yaml',
    help: "check this replicate plan's points on its replica node against their digests",
  },
]);

interface ReplicaLine {
  readonly plan: string;
  readonly vm: string | null;
  readonly replicaNode: string | null;
  readonly lagSeconds: number | null;
  readonly failover: ReplicaFailover | null;
  readonly points: readonly {
    readonly id: string;
    readonly takenAt: string;
    readonly ageSeconds: number;
    readonly type: string;
    readonly chainId: string;
    readonly parentId: string | null;
    readonly bytes: number | null;
    readonly disks: readonly {
      readonly key: number;
      readonly path: string;
      readonly layer: string;
      readonly virtualSize: number;
      readonly bytes: number | null;
    }[];
  }[];
}

const JSON_OUTPUT: JsonOutput = {
  intro:
    "One object per replicate plan. With `--verify PLAN.yaml`: one object per layer checked, the plan's points oldest first; with no complete point, one `{ plan, checked: 0 }` ([replication.md](replication.md#digests)).",
  lines: shapedLines<{
    'a replicate plan': ReplicaLine;
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
    const replicas = await listReplicas(store, plan);
    const now = Date.now();
    if (cli.json) {
      for (const replica of replicas) printJson<ReplicaLine>(cli, replicaJson(replica, now));
      return 0;
    }
    if (replicas.length === 0) {
      cli.stdout.write(plan ? `no replica points of plan ${plan}\n` : 'no replicas yet\n');
      return 0;
    }
    replicas.forEach((replica, i) => {
      if (i > 0) cli.stdout.write('\n');
      for (const line of replicaLines(replica, now)) cli.stdout.write(`${line}\n`);
    });
    return 0;
  });
}

// Every plan with a point recorded (any status), by name; its complete points newest first.
async function listReplicas(store: Store, plan: string | undefined): Promise<Replica[]> {
  const all = await store.listReplicaPoints(plan === undefined ? {} : { plan });
  const plans = [...new Set(all.map((point) => point.plan))].sort();
  return Promise.all(
    plans.map(async (name) => ({
      plan: name,
      points: all.filter((point) => point.plan === name && point.status === 'complete').reverse(),
      failover: await store.replicaFailover(name),
    })),
  );
}

function replicaLines({ plan, points, failover }: Replica, now: number): string[] {
  const newest = points[0];
  if (newest === undefined) return [`plan ${plan}: no complete point yet`];
  const lines = [
    `plan ${plan} (VM ${newest.vm}), replica on ${newest.replicaNode}: ${plural(points.length, 'point')}, newest ${formatDuration(pointAge(newest, now))} behind`,
  ];
  if (failover !== undefined)
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
      formatLocalTime(pointTime(point)),
      formatDuration(pointAge(point, now)),
      point.type,
      String(point.disks.length),
      point.bytes === null ? '-' : formatBytes(point.bytes),
    ]),
  );
  return [...lines, ...table.map((line) => `  ${line}`)];
}

function replicaJson({ plan, points, failover }: Replica, now: number): ReplicaLine {
  const newest = points[0];
  return {
    plan,
    vm: newest?.vm ?? null,
    replicaNode: newest?.replicaNode ?? null,
    lagSeconds: newest === undefined ? null : pointAge(newest, now),
    failover: failover ?? null,
    points: points.map((point) => ({
      id: point.id,
      takenAt: pointTime(point),
      ageSeconds: pointAge(point, now),
      type: point.type,
      chainId: point.chainId,
      parentId: point.parentId,
      bytes: point.bytes,
      disks: point.disks.map((disk) => ({
        key: disk.diskKey,
        path: disk.path,
        layer: disk.layer,
        virtualSize: disk.virtualSize,
        bytes: disk.bytes,
      })),
    })),
  };
}
