// `sendense-run prune PLAN.yaml [--dry-run]`: apply the plan's keep-* retention now
// (docs/how-it-works.md, "Retention"). --dry-run lists every point, kept (and by which rules) or merged into which point,
// and changes nothing. Holds the VM's lock like a run, so no backup of the VM runs meanwhile.
// SIGINT/SIGTERM/SIGHUP stop it after the merge under way (exit 130); a kill -9 is doctor's.

import { holdVmForCommand } from '../engine/vm-turn.js';
import { checkPlanRepository } from '../engine/plan-repository.js';
import { isSendenseError, SendenseError, usageError } from '../errors.js';
import { planCapability } from '../kinds/index.js';
import { loadPlanForRun } from '../plan/load.js';
import type { BackupPlan } from '../plan/types.js';
import { describeDecision, type PointAction } from '../retention/prune-choice.js';
import { planPrune, pruneByPoints } from '../retention/prune-by-points.js';
import { requireRepositoryKey } from '../repository/repository-settings.js';
import { refuseUnfinishedMerge } from '../retention/unfinished-merge.js';
import { openStore, type Store } from '../store/index.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import { KEY_OPTIONS, keyOption } from './key-option.js';
import { withRecordedRun } from './recorded-run.js';

const OPTIONS = declareOptions([
  {
    name: '--dry-run',
    help: 'list every point with the rules that keep it, or the point it would be merged into; change nothing',
  },
  ...KEY_OPTIONS,
]);

type PruneLine =
  | ({
      readonly type: 'point';
      readonly id: string;
      readonly backupType: string;
      readonly takenAt: string;
    } & PointAction)
  | { readonly type: 'info'; readonly step: 'prune'; readonly message: string }
  | { readonly type: 'summary'; readonly message: string };

const JSON_OUTPUT: JsonOutput = {
  intro:
    'With `--dry-run`, one `point` per point, oldest first. Without it, an `info` per point merged or removed, then the `summary`.',
  lines: typedLines<PruneLine>({
    point: {
      when: 'with `--dry-run`: what would happen to the point',
      fields: {
        id: '',
        backupType: '`full`, `incremental`',
        takenAt: '',
        action: '`keep`, `merge` or `delete`',
        keptBy: 'keep: the rules that keep it, e.g. `["last 1", "daily 2026-11-20"]`',
        reason: 'keep, optional: why a point is left alone, e.g. something still running on it',
        into: 'merge: the point it is merged into',
        becomesFull: 'merge: the point merged into becomes the full',
      },
    },
    info: { when: 'a point merged or removed', fields: { step: '`prune`', message: '' } },
    summary: { when: 'at the end', fields: { message: '' } },
  }),
  after: "A run's `retention` step reports the same lines as `info` events.",
};

export const pruneCommand: CommandSpec = defineCommand({
  name: 'prune',
  usage: 'sendense-run prune PLAN.yaml [--dry-run] [--key-file FILE|--key-env NAME]',
  does: "Apply the plan's retention.keep* rules now (as after each run) to the points this plan made\n(another plan's are never touched): every point no rule keeps is merged into the next point of its\nchain (an unkept full: the next point becomes the full), never broken out of it; kept and protected\npoints keep their content, manifests follow; damaged points are listed and left (forget --damaged).\nHolds the VM's lock; doctor finishes an interrupted merge. An encrypted repository's merges need its\nkey: the plan's repository.encryption, or --key-file / --key-env; without one that opens it nothing\nis merged or changed (exit 2).",
  options: OPTIONS,
  exitCodes: [
    {
      code: 0,
      when: 'the unkept points were merged away (or, with --dry-run, what would happen to each point was printed)',
    },
    {
      code: 1,
      when: "a merge failed or the VM is busy (another run holds it, or an unfinished merge waits for doctor); a point's file open in another process (nothing was changed: try again when it is closed); or the state database lost (doctor finishes or rolls back the merge under way once it is back); every kept point is unchanged",
    },
    {
      code: 2,
      when: 'invalid plan, a plan without keep-* rules, an encrypted repository and no key given that opens it, or a usage error; nothing was changed',
    },
    { code: 130, when: 'interrupted by SIGINT, SIGTERM or SIGHUP: stopped after the merge under way' },
  ],
  json: JSON_OUTPUT,
  run: runPrune,
});

async function runPrune(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  keyOption(given);
  if (given.operands.length !== 1)
    throw usageError('prune takes exactly one plan file (sendense-run prune PLAN.yaml [--dry-run])');
  const loaded = await loadPlanForRun(given.operands[0]!, process.env);
  const plan = planCapability(loaded, 'chains');
  if (plan === undefined || plan.retention === undefined || plan.retention.keepChains !== undefined) {
    throw new SendenseError(
      `${loaded.origin.file}: prune applies keep-* retention rules (retention.keepLast/keepHourly/keepDaily/keepWeekly/keepMonthly/keepYearly); this plan has none`,
      {
        exitCode: 2,
      },
    );
  }
  const dryRun = given.flag('--dry-run');
  if (!dryRun) await checkPruneRepository(plan);
  const store = await openStore(cli.dbPath);
  try {
    return dryRun ? await showPrune(cli, store, plan) : await prune(cli, store, plan);
  } finally {
    await store.close();
  }
}

// Before the VM is locked: the plan's repository settings against the repository's, and an
// encrypted repository's key (the plan's, or --key-file / --key-env) opens it.
async function checkPruneRepository(plan: BackupPlan): Promise<void> {
  if (plan.repository.encryption !== undefined) await checkPlanRepository(plan);
  else {
    try {
      await requireRepositoryKey(plan.repository.path);
    } catch (error) {
      if (!isSendenseError(error)) throw error;
      throw new SendenseError(error.message, { file: plan.origin.file, exitCode: error.exitCode, cause: error });
    }
  }
}

async function showPrune(cli: CliContext, store: Store, plan: BackupPlan): Promise<number> {
  for (const decision of await planPrune(store, plan)) {
    const { backup, ...action } = decision;
    if (cli.json)
      printJson<PruneLine>(cli, {
        type: 'point',
        id: backup.id,
        backupType: backup.type,
        takenAt: backup.startedAt,
        ...action,
      });
    else cli.stdout.write(`${describeDecision(decision)}\n`);
  }
  return 0;
}

async function prune(cli: CliContext, store: Store, plan: BackupPlan): Promise<number> {
  const say = (line: string) => {
    if (cli.json) printJson<PruneLine>(cli, { type: 'info', step: 'prune', message: line });
    else if (!cli.quiet) cli.stdout.write(`${line}\n`);
  };
  const record = { plan: plan.name, kind: 'prune', trigger: 'manual', planFile: plan.origin.file } as const;
  const options = {
    record,
    stopOnSignal: { note: 'stopping after the merge under way' },
    doctorAlso: 'finishes or rolls back the merge under way',
  };
  return withRecordedRun(cli, store, options, async (run) => {
    await holdVmForCommand(store, run, plan.vm.name, plan.name);
    await refuseUnfinishedMerge(store, plan.vm.name, 'prune');
    const summary = await pruneByPoints(store, run.id, plan, say, run.signal);
    if (cli.json) printJson<PruneLine>(cli, { type: 'summary', message: summary });
    else cli.stdout.write(`${summary}\n`);
  });
}
