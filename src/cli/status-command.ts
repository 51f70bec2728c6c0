// `sendense-run status [FILE|DIR...]` (docs/operations.md#status): one line per plan — VM, kind,
// schedule and next run, last run, newest point's age (a replicate plan: its lag), chain, space —
// then the error of each plan whose last run failed. Exits 1 when one did, for monitoring checks; a
// replicate plan failed over on purpose is said so instead, and does not count.

import { existsSync } from 'node:fs';
import { plansStatus, type PlanStatus } from '../core/plan-status.js';
import { usageError } from '../errors.js';
import { formatBytes } from '../format/bytes.js';
import { formatDuration } from '../format/duration.js';
import { formatLocalTime } from '../format/local-time.js';
import { formatTable } from '../format/table.js';
import type { Store } from '../store/index.js';
import { defineCommand, type CommandSpec } from './command.js';
import type { CliContext } from './context.js';
import { printJson, shapedLines, type JsonOutput } from '../output/json-output.js';
import { withStoreIfAny } from './open-existing-store.js';

const JSON_OUTPUT: JsonOutput = {
  intro: 'One object per valid plan under the paths.',
  lines: shapedLines<{ 'a plan': PlanStatus }>({
    'a plan': {
      when: 'a valid plan',
      fields: {
        plan: '',
        file: '',
        vm: '',
        kind: '',
        schedule: 'null without one',
        timezone: 'null without a schedule',
        nextRun: "the schedule's next time, computed in the plan's timezone; null without a schedule",
        running: 'true while a run of the plan is going',
        lastRun:
          'the newest finished run, `{ id, status, startedAt, endedAt, error, acknowledgedBy }` (`status`: `succeeded`, `failed`, `interrupted` or `refused`; `acknowledgedBy`: who acknowledged a failed run, else null), or null',
        newestPoint:
          "`{ id, takenAt, ageSeconds }` (a backup in the plan's repository, or a replicate plan's replica point), or null",
        chainLength: "the points of the newest point's chain (0 without a point, null for a replicate plan)",
        repository: 'null for a replicate plan',
        repositoryBytes:
          'the space `<repository>/<vm>` takes on disk as `du -s` counts it (null when it is not there, and for a replicate plan)',
        replicaLagSeconds: "a replicate plan's newest point's age (null otherwise)",
        suspectPoints:
          "a backup plan's suspect points not cleared yet, `[{ id, reasons }]` ([ransomware signals](anomaly.md#status)); any makes the exit code 1",
        anomalyLearning:
          'while a backup plan has too few incrementals with figures for any point to be marked suspect, says so; null otherwise',
        lastProvenBootable:
          "the newest point of the plan's VM a drill proved bootable, `{ backupId, at, runId, recoverySeconds }` ([drills](drills.md#status)), or null",
        failedOver:
          "null, or for a replicate plan failed over on purpose `{ domain, node, at, pointId, failback }` (`failback`: the command that switches back; such a plan's failed syncs do not make the exit code 1)",
      },
    },
  }),
  after: 'The exit code is as without `--json` ([operations](operations.md#status)).',
};

export const statusCommand: CommandSpec = defineCommand({
  name: 'status',
  usage: 'sendense-run status [FILE|DIR...]',
  does: "Each plan under the paths (none: the plan files the database's runs were started from): its VM,\nkind, schedule and next run, its last run's result and when, its newest point's age (a replicate\nplan: the replica's lag), that point's chain and the space its VM's folder takes in the repository.\nThe error of each plan whose last run failed follows the table; a replicate plan failed over on purpose\nis said so instead (where its replica domain runs, since when, and the failback command).",
  options: [],
  exitCodes: [
    {
      code: 0,
      when: "shown, and no plan's last run failed (also when there is no state database yet: every plan has never run)",
    },
    {
      code: 1,
      when: "a plan's last run failed and is not acknowledged (`ack RUN`; an interrupted or refused run does not count, nor the refused syncs of a replicate plan failed over on purpose: that plan is said failed over, exit 0), or a backup plan's VM has a suspect point not cleared (docs/anomaly.md)",
    },
    {
      code: 2,
      when: 'a path holds no plan or an invalid one (said on stderr; the others are still shown), or a usage error',
    },
  ],
  json: JSON_OUTPUT,
  run: (cli, given) => runStatus(cli, given.operands),
});

async function runStatus(cli: CliContext, args: readonly string[]): Promise<number> {
  return withStoreIfAny(cli, async (store) => {
    const paths = args.length > 0 ? [...args] : await recordedPlanFiles(cli, store);
    const { plans: statuses, skipped } = await plansStatus(store, { paths });
    for (const line of skipped) cli.stderr.write(`${line} (plan skipped)\n`);
    if (cli.json) {
      for (const status of statuses) printJson<PlanStatus>(cli, status);
    } else {
      for (const line of statusLines(statuses)) cli.stdout.write(`${line}\n`);
    }
    if (skipped.length > 0) return 2;
    return statuses.some(failing) ? 1 : 0;
  });
}

// No paths: the plan files the database's runs were started from, those still there.
async function recordedPlanFiles(cli: CliContext, store: Store | undefined): Promise<string[]> {
  const files = store === undefined ? [] : (await store.runPlanFiles()).filter((file) => existsSync(file));
  if (files.length === 0)
    throw usageError(
      `status needs plan FILEs or DIRs: no run in ${cli.dbPath} was started from a plan file that is still there`,
    );
  return files;
}

// A plan failed over on purpose is not failing: its syncs refuse until the failback (docs/replication.md#failback).
function failing(status: PlanStatus): boolean {
  return openFailure(status) || status.suspectPoints.length > 0;
}

function runFailed(status: PlanStatus): boolean {
  return status.lastRun?.status === 'failed' && status.failedOver === null;
}

// A failure an operator acknowledged is still said, but no longer fails monitoring (docs/operations.md#acknowledging-failures).
function openFailure(status: PlanStatus): boolean {
  return runFailed(status) && status.lastRun!.acknowledgedBy === null;
}

function statusLines(statuses: readonly PlanStatus[]): string[] {
  if (statuses.length === 0) return ['no valid plan'];
  const ago = (seconds: number) => `${formatDuration(seconds)} ago`;
  const now = Date.now();
  const table = formatTable(
    [
      { header: 'PLAN' },
      { header: 'VM' },
      { header: 'KIND' },
      { header: 'SCHEDULE' },
      { header: 'NEXT RUN' },
      { header: 'LAST RUN' },
      { header: 'NEWEST', align: 'right' },
      { header: 'CHAIN', align: 'right' },
      { header: 'SIZE', align: 'right' },
    ],
    statuses.map((status) => [
      status.plan,
      status.vm,
      status.kind,
      status.schedule ?? '-',
      status.nextRun === null ? '-' : formatLocalTime(status.nextRun).slice(0, 16),
      status.running
        ? 'running now'
        : status.lastRun === null
          ? 'never'
          : `${status.lastRun.status} ${ago((now - Date.parse(status.lastRun.endedAt)) / 1000)}`,
      status.newestPoint === null
        ? '-'
        : status.replicaLagSeconds === null
          ? ago(status.newestPoint.ageSeconds)
          : `lag ${formatDuration(status.replicaLagSeconds)}`,
      status.chainLength === null || status.chainLength === 0 ? '-' : String(status.chainLength),
      status.repositoryBytes === null ? '-' : formatBytes(status.repositoryBytes),
    ]),
  );
  const failures = statuses
    .filter(runFailed)
    .map(
      (status) =>
        `${status.plan}: run ${status.lastRun!.id} failed at ${formatLocalTime(status.lastRun!.endedAt)}: ${status.lastRun!.error ?? 'no error recorded'}${status.lastRun!.acknowledgedBy === null ? '' : ` (acknowledged by ${status.lastRun!.acknowledgedBy})`}`,
    );
  const failedOver = statuses.flatMap(({ plan, failedOver: over }) =>
    over === null
      ? []
      : [
          `${plan}: failed over to ${over.domain} on ${over.node} at ${formatLocalTime(over.at)} (point ${over.pointId}), syncs stopped (failback: ${over.failback})`,
        ],
  );
  const suspects = statuses.flatMap(({ plan, vm, suspectPoints }) =>
    suspectPoints.map(
      (point) =>
        `${plan}: SUSPECT point ${point.id} of VM ${vm}: ${point.reasons} (sendense-run clear ${vm} --point ${point.id} once checked)`,
    ),
  );
  const learning = statuses.flatMap(({ plan, anomalyLearning }) =>
    anomalyLearning === null ? [] : [`${plan}: ransomware signals ${anomalyLearning}`],
  );
  const proven = statuses.flatMap(({ plan, vm, lastProvenBootable: drill }) =>
    drill === null
      ? []
      : [
          `${plan}: VM ${vm} last proven bootable: backup ${drill.backupId} (drill ${drill.runId}, ${formatLocalTime(drill.at)}${drill.recoverySeconds === null ? '' : `, recovery time ${drill.recoverySeconds} s`})`,
        ],
  );
  const notes = [...failedOver, ...failures, ...suspects, ...learning, ...proven];
  return notes.length === 0 ? table : [...table, '', ...notes];
}
