// `sendense-run failover PLAN.yaml [--point ID] [--test] [--force]` (docs/replication.md#failover): the
// replica domain of a replicate plan started on the replica node from a point, the failover
// recorded first so the plan's syncs stop; or with --test the point booted as a throwaway domain
// with no network until Ctrl+C, SIGTERM, SIGHUP or the guest shuts itself off. Recorded as a run
// (kind failover) so doctor ends what a killed test left.

import { holdVmForCommand } from '../engine/vm-turn.js';
import { existsSync } from 'node:fs';
import { isSendenseError, SendenseError, usageError } from '../errors.js';
import { checkFailoverPoint, type PointCheckOutcome } from '../failover/check-point.js';
import { failOver } from '../failover/fail-over.js';
import { FAILOVER_JSON, printFailedOver, printTestEnded, printTestRunning } from '../failover/failover-output.js';
import { choosePoint } from '../failover/failover-point.js';
import { startFailoverTest } from '../failover/failover-test.js';
import { openReplicaNode } from '../replica/replica-node.js';
import { formatDuration } from '../format/duration.js';
import { formatLocalTime } from '../format/local-time.js';
import { loadHubConfig } from '../hub/hub-config.js';
import { planCapability } from '../kinds/index.js';
import { loadPlanForRun } from '../plan/load.js';
import type { ReplicatePlan } from '../plan/types.js';
import { finishUnfinishedPoints } from '../replica/replica-points.js';
import { isPostgresUrl } from '../store/database-target.js';
import { openStore, type Store } from '../store/index.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { untilAborted, withRecordedRun } from './recorded-run.js';

/** The plan a test's run is recorded under: a test is not a run of the plan (its syncs go on meanwhile). */
const TEST_RUN_PLAN = 'failover-test';

const OPTIONS = declareOptions([
  {
    name: '--point',
    value: 'ID',
    help: 'a complete point of the plan (default: the newest; sendense-run replicas lists them)',
  },
  { name: '--test', help: 'a throwaway test boot with no network instead of the failover' },
  {
    name: '--force',
    help: 'go ahead although the source domain still runs (a real failover: two copies of the VM run) or the point differs from its digests; each said in a WARNING line',
  },
]);

export const failoverCommand: CommandSpec = defineCommand({
  name: 'failover',
  usage: 'sendense-run failover PLAN.yaml [--point ID] [--test] [--force]',
  does: [
    'Start the replica domain of a replicate plan on the replica node from a point: from the newest, on',
    'replica.path; from an older one, on a new overlay per disk beside replica.path (no point is changed).',
    "The failover is recorded before the domain starts: from then on the plan's syncs refuse to run.",
    'It refuses while the source domain still runs where its node answers: two copies of one VM.',
    'With --test: boot the point as a transient domain <replica.domain>-test with no network, its disks',
    'throwaway overlays beside replica.path, until Ctrl+C, SIGTERM, SIGHUP or the guest shuts itself',
    'off; then it is destroyed and its overlays removed. The replica, its syncs and the failover state',
    'are untouched; doctor ends the test of a killed run.',
    'First the point and the points under it are read on the replica node and compared with the digests',
    'their syncs recorded: a point that differs is refused unless --force.',
  ].join('\n'),
  options: OPTIONS,
  exitCodes: [
    {
      code: 0,
      when: 'failed over: the replica domain runs (or, with --test, the test ran and ended by Ctrl+C, SIGTERM, SIGHUP or the guest shutting off, all of it given back)',
    },
    {
      code: 1,
      when: 'nothing started: the source domain still runs (without --force), the plan is failed over already, no such complete point, the point differs from its digests (without --force), a sync holds the VM, the replica domain or a test of it runs already, the domain did not start (the failover is then forgotten again), or the replica node refused; with --test also a point the failed-over domain writes into, or the SSH connection to the replica node lost while the test ran (its domain is then destroyed when the node answers again)',
    },
    { code: 2, when: 'not a replicate plan, no replica domain in it, an invalid plan, or a usage error' },
    { code: 130, when: 'interrupted before the domain started (all it had taken given back)' },
  ],
  json: FAILOVER_JSON,
  run: runFailover,
});

async function runFailover(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  const [file, ...extra] = given.operands;
  if (file === undefined) throw usageError(`failover needs a replicate plan file (usage: ${failoverCommand.usage})`);
  if (extra.length > 0) throw usageError(`failover takes one plan file (got '${extra[0]}' too)`);
  const loaded = await loadPlanForRun(file, process.env);
  const plan = planCapability(loaded, 'replica');
  if (plan === undefined) throw usageError(`failover takes a replicate plan: ${file} is a ${loaded.kind} plan`);
  if (plan.replica.domain === undefined) {
    throw usageError(
      `plan ${plan.name} (${file}) has no replica domain to start: its source has no domain XML of its own, so replica.definition must say what the domain is`,
    );
  }
  const hub = loadHubConfig(cli.hubConfig);
  // A mistyped --db must not become a new, empty state database.
  if (!isPostgresUrl(cli.dbPath) && !existsSync(cli.dbPath))
    throw new SendenseError(
      `no state database at ${cli.dbPath}: plan ${plan.name} has no replica point there (give --db or $SENDENSE_DB)`,
    );
  const store = await openStore(cli.dbPath, { hub: hub.name });
  try {
    const [point, force] = [given.value('--point'), given.flag('--force')];
    return given.flag('--test')
      ? await testFailover(cli, store, plan, point, force)
      : await failOverNow(cli, store, plan, point, force);
  } finally {
    await store.close();
  }
}

async function failOverNow(
  cli: CliContext,
  store: Store,
  plan: ReplicatePlan,
  pointId: string | undefined,
  force: boolean,
): Promise<number> {
  await refuseFailedOver(store, plan);
  const record = { plan: plan.name, kind: 'failover', trigger: 'manual', planFile: plan.origin.file } as const;
  return withRecordedRun(
    cli,
    store,
    { record, stopOnSignal: { note: 'stopping (a failover already recorded finishes first)' } },
    async (run) => {
      // No sync runs meanwhile; a dead sync's leftovers are finished first, so replica.path is the newest point.
      await holdVmForCommand(store, run, plan.vm.name, plan.name);
      await refuseFailedOver(store, plan);
      const node = await openReplicaNode(plan);
      try {
        await finishUnfinishedPoints(store, plan.name, node, (message) => note(cli, message));
        const point = await choosePoint(store, plan.name, pointId);
        sayChecked(cli, await checkFailoverPoint(store, node, point, force));
        let forced: string | undefined;
        // Loud whatever --quiet says: two copies of one VM now run.
        const warn = (line: string) => {
          forced = line;
          cli.stderr.write(`${line}\n`);
        };
        const done = await failOver(store, node, plan, point, run.id, run.signal, { force, warn });
        await store.noteRun(
          run.id,
          `failed over to point ${point.id}: ${done.domain} started on ${done.node}${forced === undefined ? '' : ' beside the source, which still ran (--force)'}`,
        );
        printFailedOver(cli, plan, done);
      } finally {
        await node.close();
      }
    },
  );
}

async function testFailover(
  cli: CliContext,
  store: Store,
  plan: ReplicatePlan,
  pointId: string | undefined,
  force: boolean,
): Promise<number> {
  const record = { plan: TEST_RUN_PLAN, kind: 'failover', trigger: 'manual', planFile: plan.origin.file } as const;
  return withRecordedRun(cli, store, { record, stopOnSignal: { note: 'ending the test' } }, async (run) => {
    const point = await choosePoint(store, plan.name, pointId);
    const node = await openReplicaNode(plan);
    try {
      sayChecked(cli, await checkFailoverPoint(store, node, point, force));
      run.signal.throwIfAborted();
      const test = await startFailoverTest(store, node, plan, point, run.id, run.signal);
      await store.noteRun(
        run.id,
        `tested the failover of plan ${plan.name}: ${test.domain} on ${test.node} from point ${point.id}, no network`,
      );
      printTestRunning(cli, plan, test);
      const ended = await Promise.race([test.ended, untilAborted(run.signal)]);
      const failed = (await test.stop()).find((outcome) => outcome.error !== undefined);
      const left =
        failed === undefined
          ? undefined
          : `could not ${failed.what}: ${failed.error!.message} (sendense-run doctor gives back the rest once it can)`;
      if (isSendenseError(ended))
        throw new SendenseError(
          `${ended.message}: the test of ${test.domain} ended; ${left ?? `${test.domain} destroyed, its overlays removed`}`,
        );
      if (left !== undefined) throw new SendenseError(`the test of ${test.domain} ended, but ${left}`);
      if (ended === 'gone') return printTestEnded(cli, plan, test, 'shut-off');
      // Ctrl+C, SIGTERM, SIGHUP are how a test ends; anything else (the state database lost) is the run's failure.
      const reason: unknown = run.signal.reason;
      if (!(isSendenseError(reason) && reason.exitCode === 130)) throw reason;
      printTestEnded(cli, plan, test, 'signal');
    } finally {
      await node.close();
    }
  });
}

async function refuseFailedOver(store: Store, plan: ReplicatePlan): Promise<void> {
  const failover = await store.replicaFailover(plan.name);
  if (failover === undefined) return;
  const age = formatDuration((Date.now() - Date.parse(failover.at)) / 1000);
  throw new SendenseError(
    `plan ${plan.name} is failed over already: ${failover.domain} on ${failover.node} runs from point ${failover.pointId} since ${formatLocalTime(failover.at)} (${age} ago, run ${failover.runId})`,
  );
}

// The warning of a point started with --force is said even with --quiet.
function sayChecked(cli: CliContext, outcome: PointCheckOutcome): void {
  for (const line of outcome.notes) note(cli, line);
  if (outcome.warning !== undefined) cli.stderr.write(`WARNING: ${outcome.warning}\n`);
}

function note(cli: CliContext, line: string): void {
  if (!cli.quiet) cli.stderr.write(`${line}\n`);
}
