// `sendense-run forget VM --point P|--chain C|--damaged [--repository PATH] [--dry-run]`: remove
// points now (docs/how-it-works.md#forget). A point others stand on is merged into the next point
// that stays (retention's crash-safe merge); one nothing stands on is removed with its files and
// its bitmap on the source. Refuses, changing nothing, when any asked point cannot go (protected,
// damage a complete point reads through, ...). Holds the VM's lock like prune.

import { holdVmForCommand } from '../engine/vm-turn.js';
import { SendenseError, usageError } from '../errors.js';
import { applyPrune } from '../retention/apply-prune.js';
import { chooseForget, type ForgetChoice } from '../retention/forget-choice.js';
import type { PointAction, PointDecision } from '../retention/prune-choice.js';
import { refuseUnfinishedMerge } from '../retention/unfinished-merge.js';
import type { Backup, Store } from '../store/index.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import { KEY_OPTIONS, keyOption } from './key-option.js';
import { withExistingStore } from './open-existing-store.js';
import { withRecordedRun } from './recorded-run.js';

type ForgetLine =
  | ({
      readonly type: 'point';
      readonly id: string;
      readonly backupType: string;
      readonly status: string;
      readonly takenAt: string;
      readonly done: boolean;
    } & Exclude<PointAction, { readonly action: 'keep' }>)
  | { readonly type: 'info'; readonly step: 'forget'; readonly message: string }
  | {
      readonly type: 'summary';
      readonly vm: string;
      readonly dryRun: boolean;
      readonly merged: readonly string[];
      readonly removed: readonly string[];
    }
  | { readonly type: 'refused'; readonly vm: string; readonly message: string };

const JSON_OUTPUT: JsonOutput = {
  intro:
    'A `point` per point, newest first, as each is merged or removed (with `--dry-run`, what would happen to it), an `info` for what else was given back, then the `summary` (also when there was no point to forget: both lists empty). Refused, nothing changed (exit 2): a `refused` per point that cannot go.',
  lines: typedLines<ForgetLine>({
    point: {
      when: 'a point merged or removed (with `--dry-run`: that would be)',
      fields: {
        id: '',
        backupType: '`full`, `incremental`',
        status: '',
        takenAt: '',
        action: '`merge` or `delete`',
        into: 'merge: the point it is merged into',
        becomesFull: 'merge: the point merged into becomes the full',
        done: 'false with `--dry-run`',
      },
    },
    info: {
      when: "what else was given back: a point's bitmap on the source, or its libvirt checkpoint on the domain",
      fields: { step: '`forget`', message: '' },
    },
    summary: {
      when: 'at the end',
      fields: { vm: '', dryRun: '', merged: 'ids', removed: 'ids' },
    },
    refused: {
      when: 'a point asked for cannot go (nothing was changed)',
      fields: { vm: '', message: 'why, and what to do' },
    },
  }),
};

const OPTIONS = declareOptions([
  { name: '--point', value: 'ID', repeatable: true, help: 'this backup (repeatable)' },
  { name: '--chain', value: 'ID', repeatable: true, help: 'every point of this chain (repeatable)' },
  { name: '--damaged', help: 'every damaged or failed point of the VM, and what is built on them' },
  { name: '--repository', value: 'PATH', help: "only the VM's points in this repository" },
  { name: '--dry-run', help: 'print what would happen to each point; change nothing' },
  ...KEY_OPTIONS,
]);

export const forgetCommand: CommandSpec = defineCommand({
  name: 'forget',
  usage:
    'sendense-run forget VM (--point ID|--chain ID|--damaged)... [--repository PATH] [--dry-run] [--key-file FILE|--key-env NAME]',
  does:
    'Remove points of a VM now, newest first: a point a later point stands on is merged into the next point\n' +
    'that stays (the same crash-safe merge as retention: every point left reads exactly as before); a point\n' +
    'nothing stands on is removed with its files and its bitmap on the source. A damaged or failed point is\n' +
    'only ever removed: what is built on it must go with it (--damaged takes them all). Refuses, changing\n' +
    'nothing, when any point asked cannot go (protected, a complete point reads through a damaged one, ...),\n' +
    "one line each saying why and what to do. Holds the VM's lock; doctor finishes an interrupted merge.",
  options: OPTIONS,
  exitCodes: [
    {
      code: 0,
      when: 'every point asked was merged away or removed (with --dry-run: what would happen was printed); also when --damaged found none',
    },
    {
      code: 1,
      when: 'a merge failed or the VM is busy (a run holds it, or an unfinished merge waits for doctor); the points done so far stay done, the rest stay',
    },
    {
      code: 2,
      when: 'refused: a point asked cannot be forgotten (one line each says why and what to do); a point or chain not recorded for the VM; an encrypted repository and no key given that opens it; or a usage error; nothing was changed',
    },
    { code: 130, when: 'interrupted by SIGINT, SIGTERM or SIGHUP: stopped after the merge under way' },
  ],
  json: JSON_OUTPUT,
  run: runForget,
});

async function runForget(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  keyOption(given);
  if (given.operands.length !== 1)
    throw usageError('forget takes exactly one VM (sendense-run forget VM --point ID|--chain ID|--damaged)');
  const request = {
    vm: given.operands[0]!,
    points: given.values('--point'),
    chains: given.values('--chain'),
    damaged: given.flag('--damaged'),
    repository: given.value('--repository'),
  };
  if (request.points.length + request.chains.length === 0 && !request.damaged)
    throw usageError('forget needs --point ID, --chain ID or --damaged');
  const { vm } = request;
  const dryRun = given.flag('--dry-run');
  return withExistingStore(cli, async (store) => {
    const choice = await chooseFor(store, request);
    if (choice.refusals.length > 0) {
      for (const refusal of choice.refusals) {
        if (cli.json) printJson<ForgetLine>(cli, { type: 'refused', vm, message: refusal });
        cli.stderr.write(`sendense-run: forget refused: ${refusal}\n`);
      }
      cli.stderr.write('sendense-run: nothing was changed\n');
      return 2;
    }
    if (choice.decisions.length === 0) {
      if (cli.json) writeSummary(cli, vm, dryRun, []);
      else cli.stdout.write(`no point of VM ${vm} to forget\n`);
      return 0;
    }
    if (dryRun) {
      for (const decision of choice.decisions) reportPoint(cli, decision, 'would');
      if (cli.json) writeSummary(cli, vm, true, choice.decisions);
      return 0;
    }
    return forget(cli, store, request, choice);
  });
}

interface ForgetRequest {
  readonly vm: string;
  readonly points: readonly string[];
  readonly chains: readonly string[];
  readonly damaged: boolean;
  readonly repository: string | undefined;
}

async function chooseFor(store: Store, request: ForgetRequest): Promise<ForgetChoice> {
  const backups = (await store.listBackups({ vm: request.vm })).filter(
    (backup) => request.repository === undefined || backup.repository === request.repository,
  );
  const where = request.repository === undefined ? '' : ` in ${request.repository}`;
  for (const id of request.points) {
    if (!backups.some((backup) => backup.id === id))
      throw new SendenseError(`forget: VM ${request.vm} has no backup ${id}${where}`, { exitCode: 2 });
  }
  for (const id of request.chains) {
    if (!backups.some((backup) => backup.chainId === id))
      throw new SendenseError(`forget: VM ${request.vm} has no chain ${id}${where}`, { exitCode: 2 });
  }
  const asked = (backup: Backup) =>
    request.points.includes(backup.id) ||
    (request.chains.includes(backup.chainId) && backup.status !== 'running') ||
    (request.damaged && (backup.status === 'damaged' || backup.status === 'failed'));
  return chooseForget(backups, new Set(backups.filter(asked).map((backup) => backup.id)));
}

async function forget(cli: CliContext, store: Store, request: ForgetRequest, planned: ForgetChoice): Promise<number> {
  const say = (line: string) => {
    if (cli.json) printJson<ForgetLine>(cli, { type: 'info', step: 'forget', message: line });
    else if (!cli.quiet) cli.stdout.write(`${line}\n`);
  };
  const record = { plan: `forget ${request.vm}`, kind: 'forget', trigger: 'manual' } as const;
  const options = {
    record,
    stopOnSignal: { note: 'stopping after the merge under way' },
    doctorAlso: 'finishes or rolls back the merge under way',
  };
  return withRecordedRun(cli, store, options, async (run) => {
    await holdVmForCommand(store, run, request.vm, record.plan);
    await refuseUnfinishedMerge(store, request.vm, 'forget');
    // Chosen again under the lock: a run may have added a point since the first look.
    const choice = await chooseFor(store, request);
    if (choice.refusals.length > 0 || choice.decisions.length !== planned.decisions.length) {
      throw new SendenseError(
        `VM ${request.vm} changed while forget waited for its lock: nothing was changed; run forget again`,
        { exitCode: 1 },
      );
    }
    await applyPrune(store, run.id, choice.decisions, say, run.signal, (decision) => reportPoint(cli, decision, 'did'));
    if (cli.json) writeSummary(cli, request.vm, false, choice.decisions);
  });
}

// What forget did (or would do) with one point: a line, or under --json an object (docs/json-events.md#forget---json).
function reportPoint(cli: CliContext, decision: PointDecision, mood: 'would' | 'did'): void {
  const { backup, ...action } = decision;
  if (cli.json) {
    printJson<ForgetLine>(cli, {
      type: 'point',
      id: backup.id,
      backupType: backup.type,
      status: backup.status,
      takenAt: backup.startedAt,
      // forget merges or removes every point it lists (chooseForget keeps none).
      ...(action as Exclude<PointAction, { readonly action: 'keep' }>),
      done: mood === 'did',
    });
  } else if (mood === 'would' || !cli.quiet) cli.stdout.write(`${describeForget(decision, mood)}\n`);
}

function writeSummary(cli: CliContext, vm: string, dryRun: boolean, decisions: readonly PointDecision[]): void {
  const ids = (action: PointDecision['action']) =>
    decisions.filter((decision) => decision.action === action).map((decision) => decision.backup.id);
  printJson<ForgetLine>(cli, { type: 'summary', vm, dryRun, merged: ids('merge'), removed: ids('delete') });
}

// One line per point: what forget did (or would do) with it.
function describeForget(decision: PointDecision, mood: 'would' | 'did'): string {
  const { backup } = decision;
  const head = `${backup.id} (${backup.type}, ${backup.status}, ${backup.startedAt})`;
  const done = mood === 'did';
  if (decision.action === 'merge')
    return `${head}: ${done ? 'merged' : 'would be merged'} into ${decision.into}${decision.becomesFull ? ` (${decision.into} ${done ? 'became' : 'becomes'} the full)` : ''}`;
  return `${head}: ${done ? 'removed' : 'would be removed'} (nothing stands on it)`;
}
