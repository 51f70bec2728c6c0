// What `failover` prints (docs/replication.md#failover, docs/json-events.md): a summary on stdout
// (the domain, the node, the point with its time and age), notes on stderr; with --json one
// `failed-over` object, or for a test one `test-running` then one `test-ended`.

import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import type { Output } from '../engine/output.js';
import type { ReplicatePlan } from '../plan/types.js';
import type { FailedOver } from './fail-over.js';
import type { FailoverTest } from './failover-test.js';
import { pointTime } from '../replica/replica-points.js';
import { describePoint, pointAge } from './failover-point.js';

interface PointFacts {
  readonly plan: string;
  readonly vm: string;
  readonly domain: string;
  readonly node: string;
  readonly pointId: string;
  readonly takenAt: string;
  readonly ageSeconds: number;
}

type FailoverLine =
  | ({
      readonly type: 'failed-over';
      readonly newest: boolean;
      readonly disks: readonly { readonly key: number; readonly image: string; readonly layer: string }[];
    } & PointFacts)
  | ({
      readonly type: 'test-running';
      readonly network: false;
      readonly disks: readonly { readonly key: number; readonly overlay: string; readonly layer: string }[];
    } & PointFacts)
  | {
      readonly type: 'test-ended';
      readonly plan: string;
      readonly domain: string;
      readonly pointId: string;
      readonly why: 'signal' | 'shut-off';
    };

const POINT_FIELDS = {
  plan: '',
  vm: '',
  domain: '',
  node: '',
  pointId: '',
  takenAt: '',
  ageSeconds: '',
} as const;

/** failover's section of docs/json-events.md. */
export const FAILOVER_JSON: JsonOutput = {
  intro:
    'A real failover: one `failed-over`. With `--test`: a `test-running`, then a `test-ended` ([replication.md](replication.md#failover)).',
  lines: typedLines<FailoverLine>({
    'failed-over': {
      when: 'the domain runs',
      fields: {
        ...POINT_FIELDS,
        newest: 'the point is the newest',
        disks:
          "`[{ key, image, layer }]` (`image`: the file the domain writes, `replica.path` or a new overlay for an older point; `layer`: the point's own layer)",
      },
    },
    'test-running': {
      when: '`--test`: the test domain runs',
      fields: { ...POINT_FIELDS, network: 'always false', disks: '`[{ key, overlay, layer }]`' },
    },
    'test-ended': {
      when: '`--test`: it is over',
      fields: { plan: '', domain: '', pointId: '', why: '`signal`, or `shut-off` when the guest stopped by itself' },
    },
  }),
};

export function printFailedOver(out: Output, plan: ReplicatePlan, done: FailedOver): void {
  const { point } = done;
  if (out.json) {
    const disks = done.disks.map((disk) => ({ key: disk.key, image: disk.image, layer: disk.layer }));
    line(out, {
      type: 'failed-over',
      plan: plan.name,
      vm: plan.vm.name,
      domain: done.domain,
      node: done.node,
      pointId: point.id,
      takenAt: pointTime(point),
      ageSeconds: pointAge(point),
      newest: done.newest,
      disks,
    });
  } else {
    out.stdout.write(
      `failed over ${plan.vm.name}: domain ${done.domain} started on ${done.node} from ${describePoint(point)}\n`,
    );
    for (const disk of done.disks)
      out.stdout.write(`  disk ${disk.key}: ${done.newest ? disk.image : `${disk.image} (new, over ${disk.layer})`}\n`);
    out.stdout.write(
      `the syncs of plan ${plan.name} are stopped: a scheduled or manual run of it refuses (docs/replication.md#failover)\n`,
    );
  }
  for (const text of done.notes) note(out, text);
  if (done.definition !== 'unchanged')
    note(out, `${done.domain} ${done.definition === 'defined' ? 'defined' : 'redefined'} on ${done.node} first`);
}

export function printTestRunning(out: Output, plan: ReplicatePlan, test: FailoverTest): void {
  const { point } = test;
  if (out.json) {
    const disks = test.disks.map((disk) => ({ key: disk.key, overlay: disk.overlay, layer: disk.layer }));
    line(out, {
      type: 'test-running',
      plan: plan.name,
      vm: plan.vm.name,
      domain: test.domain,
      node: test.node,
      pointId: point.id,
      takenAt: pointTime(point),
      ageSeconds: pointAge(point),
      network: false,
      disks,
    });
  } else {
    out.stdout.write(
      `testing the failover of ${plan.vm.name}: domain ${test.domain} runs on ${test.node} from ${describePoint(point)}, with no network\n`,
    );
    for (const disk of test.disks)
      out.stdout.write(`  disk ${disk.key}: writes to ${disk.overlay}, over ${disk.layer}\n`);
    out.stdout.write(
      `the replica, its syncs and the failover state are untouched; Ctrl+C stops it and discards its changes\n`,
    );
  }
  for (const text of test.notes) note(out, text);
}

export function printTestEnded(out: Output, plan: ReplicatePlan, test: FailoverTest, why: 'signal' | 'shut-off'): void {
  if (out.json) line(out, { type: 'test-ended', plan: plan.name, domain: test.domain, pointId: test.point.id, why });
  else
    out.stdout.write(
      `test ended (${why === 'signal' ? 'stopped' : 'the guest shut itself off'}): ${test.domain} destroyed, its overlays removed\n`,
    );
}

function line(out: Output, event: FailoverLine): void {
  printJson(out, event);
}

function note(out: Output, text: string): void {
  if (!out.quiet) out.stderr.write(`${text}\n`);
}
