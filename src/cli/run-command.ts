// `sendense-run PLAN.yaml [--dry-run]`: validate, then run the plan now (or print its resolved
// steps); SIGINT/SIGTERM/SIGHUP cancel the run, which cleans up and exits 130.

import { interruptedError, runPlan } from '../engine/run-plan.js';
import { createReporter } from '../engine/reporters.js';
import { isSendenseError, usageError, type SendenseError } from '../errors.js';
import { loadPlanForRun } from '../plan/load.js';
import type { Plan } from '../plan/types.js';
import { loadHubConfig } from '../hub/hub-config.js';
import { checkHubScope } from '../hub/hub-scope.js';
import { maskSecrets } from '../secrets/mask.js';
import { openStore } from '../store/index.js';
import path from 'node:path';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { DRY_RUN_JSON } from './dry-run-json.js';

const OPTIONS = declareOptions([
  {
    name: '--dry-run',
    help: 'validate and print the resolved steps (parent, ports, files) without changing anything; exit 1 when the run would fail',
  },
  {
    name: '--metrics-file',
    value: 'PATH',
    help: "after the run, write Prometheus textfile metrics there (node_exporter's textfile collector); default: the plan's metricsFile",
  },
]);

export const runCommand: CommandSpec = defineCommand({
  name: 'run',
  usage: 'sendense-run [run] PLAN.yaml [--dry-run] [--metrics-file PATH]',
  does: 'Validate the plan, then run it now: each step (--dry-run lists them), cleanup on every exit path.\nExit 0 success, 1 the run failed, 2 invalid plan or usage, 130 interrupted (after cleanup).',
  options: OPTIONS,
  exitCodes: [
    {
      code: 0,
      when: "the run succeeded, or was skipped because another plan's run held its VM and the plan says busy: skip (history: skipped: VM busy …); with --dry-run: the plan is valid and every step says what it would do",
    },
    {
      code: 1,
      when: "the run failed (its error is in history), or was refused because another plan's run held its VM past busy.wait (or at once with busy: fail; history: refused); everything it took was given back. With --dry-run: a step says the run would FAIL there",
    },
    { code: 2, when: 'invalid plan (file:line:col: message) or usage error; nothing was run' },
    { code: 130, when: 'interrupted by SIGINT, SIGTERM or SIGHUP, after cleanup' },
  ],
  json: DRY_RUN_JSON,
  run: runRun,
});

async function runRun(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  if (given.operands.length !== 1)
    throw usageError('run takes exactly one plan file (sendense-run PLAN.yaml [--dry-run])');
  const file = given.operands[0]!;
  if (given.flag('--dry-run')) {
    const { dryRunCommand } = await import('./dry-run.js');
    return dryRunCommand(cli, file);
  }
  const plan = await loadPlanForRun(file, process.env);
  return runPlanNow(cli, plan, given.value('--metrics-file'));
}

/** Runs a plan now, in the foreground (a plan file's, or one made in memory: an ad-hoc restore); its exit code. */
export async function runPlanNow(cli: CliContext, plan: Plan, metrics?: string): Promise<number> {
  const hub = loadHubConfig(cli.hubConfig);
  // Like an invalid plan: refused (exit 2) before anything is recorded.
  checkHubScope(hub, plan);
  const store = await openStore(cli.dbPath, { hub: hub.name });
  const controller = new AbortController();
  const reporter = await createReporter(cli);
  const say = (text: string) =>
    reporter.notice ? reporter.notice(`sendense-run: ${text}`) : cli.stderr.write(`sendense-run: ${text}\n`);
  const onSignal = (signal: NodeJS.Signals) => {
    // A gone terminal (SIGHUP) cannot kill the cleanup with EPIPE: main() ignores output errors.
    if (controller.signal.aborted) {
      say(`${signal} again: still cleaning up, please wait`);
      return;
    }
    say(`${signal} received: stopping and cleaning up`);
    controller.abort(interruptedError(signal));
  };
  // SIGHUP too: a closed terminal must not leave qemu-nbd, leases, files and bitmaps behind.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    const metricsFile = metrics === undefined ? undefined : path.resolve(metrics);
    // A run the API started (docs/api.md#tasks): its token's name, set by the API server.
    const actor = process.env.SENDENSE_API_ACTOR;
    const trigger = actor ? { trigger: 'api' as const, actor } : { trigger: 'manual' as const };
    const result = await runPlan(plan, { store, reporter, ...trigger, signal: controller.signal, metricsFile, hub });
    await reporter.close();
    const bug = internalCause(result.error);
    if (bug)
      cli.stderr.write(
        `sendense-run: the run failed on an internal error (a bug, please report it):\n${maskSecrets(bug.stack ?? bug.message)}\n`,
      );
    return result.status === 'succeeded' || result.status === 'skipped' ? 0 : result.status === 'interrupted' ? 130 : 1;
  } finally {
    await store.close();
    // After a cancel the process exits next: a further Ctrl+C must not turn exit 130 into a kill.
    if (!controller.signal.aborted) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onSignal);
    }
  }
}

// A run error caused by a programming error (not a user mistake, not the system saying no): its
// stack is what a bug report needs.
function internalCause(error: SendenseError | undefined): Error | undefined {
  const cause = error?.cause;
  if (!(cause instanceof Error) || isSendenseError(cause)) return undefined;
  return (cause as NodeJS.ErrnoException).code === undefined ? cause : undefined;
}
