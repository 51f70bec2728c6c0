// `sendense-run history [--plan NAME] [--limit N]`: past runs, newest first — when, which plan,
// the kind of backup taken, status (a run whose process is gone shows as died), duration, bytes as
// the run recorded them when it ended, and apart what became of its point (docs/commands.md#history).

import { runHistory, type HistoryRun } from '../core/run-history.js';
import { usageError } from '../errors.js';
import { formatBytes } from '../format/bytes.js';
import { formatDuration } from '../format/duration.js';
import { formatLocalTime } from '../format/local-time.js';
import { formatTable } from '../format/table.js';
import type { Store } from '../store/index.js';
import { defineCommand, type CommandSpec, USAGE_ERROR } from './command.js';
import { declareOptions, rejectOperands, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, shapedLines, type JsonOutput } from '../output/json-output.js';
import { withExistingStore } from './open-existing-store.js';

const OPTIONS = declareOptions([
  { name: '--plan', value: 'NAME', help: 'only this plan' },
  { name: '--limit', value: 'N', help: 'at most N runs (default 50)' },
]);

const JSON_OUTPUT: JsonOutput = {
  intro: 'One object per run, newest first.',
  lines: shapedLines<{ 'a run': HistoryRun }>({
    'a run': {
      when: 'a run',
      fields: {
        id: '',
        plan: '',
        kind: "the plan's",
        trigger: '`manual`, `schedule`, `api`',
        status:
          '`running`, `succeeded`, `failed`, `interrupted`, `skipped`, or `died`: left `running` by a process that is gone from this host',
        startedAt: '',
        endedAt: '',
        seconds: 'null while running and for skipped runs',
        error: '',
        pid: '',
        hostname: '',
        planFile: '',
        backupId: 'the backup the run made, the replica point a sync made, or the backup a restore read',
        taken: '`full`, `incremental`, `restore`, `copy`, or null when no backup was started',
        bytes: 'copied, null when not known',
        point:
          'what became of that backup since, null without one: `{ "state" }` with its status now (`complete`, `damaged`, `failed`, …), `removed` (retention removed it), `gone` (removed before sendense-run recorded what became of points), or `{ "state": "merged", "mergedInto": ID }`: a retention merge folded it into that point, which holds its data now',
        queuedSeconds: "how long it waited for the hub's disk slots; null when it did not wait",
        vmWaitSeconds:
          "how long it waited for its VM while another plan's run held it ([busy VMs](how-it-works.md#busy-vms)); null when it did not wait",
        hub: 'the hub that ran it: its hub config `name`, else the host name',
        fire: 'with a shared schedule on PostgreSQL: `PLAN@TIME`, the scheduled fire it belongs to; else null',
        actor: 'a run the API started: the name of the token that started it; else null',
        acknowledgedBy:
          'a failed run an operator acknowledged (`sendense-run ack RUN`, or the API): who; else null ([acknowledging failures](operations.md#acknowledging-failures))',
        acknowledgedAt: 'when it was acknowledged; else null',
        note: 'what the run adds besides its status and error, e.g. a verify\'s "damage cleared: IDS"; else null',
      },
    },
  }),
  after:
    '`backupId`, `taken` and `bytes` are recorded once as the run ends (a run still going: its progress so far) and no later merge changes them.',
};

export const historyCommand: CommandSpec = defineCommand({
  name: 'history',
  usage: 'sendense-run history [--plan NAME] [--limit N]',
  does: "Past runs, newest first: start time, plan, kind taken, trigger, status, duration, bytes, backup, point, errors. A run's kind taken, bytes and backup are recorded once as it ends and never change; POINT says what became of that backup since, apart: its state now (complete, damaged…), merged into ID (a retention merge: its data lives on in that point), removed, or gone (removed before this was recorded).",
  options: OPTIONS,
  exitCodes: [{ code: 0, when: 'listed (also when there is no state database yet: it says so)' }, USAGE_ERROR],
  json: JSON_OUTPUT,
  run: runHistoryCommand,
});

async function runHistoryCommand(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  rejectOperands(given.operands, 'history');
  const plan = given.value('--plan');
  const limit = given.value('--limit');
  const count = limit === undefined ? 50 : Number(limit);
  if (!Number.isInteger(count) || count < 1)
    throw usageError(`--limit must be a positive whole number (got '${limit}')`);
  return withExistingStore(cli, async (store) => {
    const runs = await runHistory(store, { plan, limit: count });
    if (cli.json) {
      for (const run of runs) printJson<HistoryRun>(cli, run);
      return 0;
    }
    if (runs.length === 0) {
      cli.stdout.write(plan ? `no runs of plan ${plan}\n` : 'no runs yet\n');
      return 0;
    }
    for (const line of historyTable(runs, showHubs(store, runs))) cli.stdout.write(`${line}\n`);
    return 0;
  });
}

// Which hub ran what matters once several hubs share the state (PostgreSQL) or one is named.
function showHubs(store: Store, runs: readonly HistoryRun[]): boolean {
  return store.sharedByHubs || runs.some((run) => run.hub !== null && run.hub !== run.hostname);
}

// The header, one line per run, and the error and note of a run under it, indented.
function historyTable(runs: readonly HistoryRun[], hubs: boolean): string[] {
  const hubColumn = hubs ? [{ header: 'HUB' }] : [];
  const table = formatTable(
    [
      { header: 'STARTED' },
      { header: 'PLAN' },
      { header: 'KIND' },
      { header: 'TRIGGER' },
      { header: 'STATUS' },
      ...hubColumn,
      { header: 'DURATION', align: 'right' },
      { header: 'BYTES', align: 'right' },
      { header: 'BACKUP' },
      { header: 'POINT' },
      { header: 'RUN' },
    ],
    runs.map((run) => [
      formatLocalTime(run.startedAt),
      run.plan,
      run.taken ?? '-',
      run.actor ? `${run.trigger}:${run.actor}` : run.trigger,
      run.status,
      ...(hubs ? [run.hub ?? run.hostname ?? '-'] : []),
      run.seconds === null ? '-' : formatDuration(run.seconds),
      run.bytes === null ? '-' : formatBytes(run.bytes),
      run.backupId ?? '-',
      run.point === null
        ? '-'
        : run.point.mergedInto === undefined
          ? run.point.state
          : `merged into ${run.point.mergedInto}`,
      run.id,
    ]),
  );
  const lines = [table[0]];
  runs.forEach((run, i) => {
    lines.push(table[i + 1]);
    if (run.vmWaitSeconds !== null)
      lines.push(`    waited ${formatDuration(run.vmWaitSeconds)} for its VM (another plan's run held it; busy.wait)`);
    if (run.queuedSeconds !== null)
      lines.push(`    queued ${formatDuration(run.queuedSeconds)} for the hub's disk slots`);
    if (run.error) lines.push(`    ${run.status === 'skipped' ? 'skipped' : 'error'}: ${run.error}`);
    if (run.note) lines.push(`    note: ${run.note}`);
    if (run.acknowledgedBy !== null)
      lines.push(`    acknowledged by ${run.acknowledgedBy} at ${formatLocalTime(run.acknowledgedAt!)}`);
  });
  return lines;
}
