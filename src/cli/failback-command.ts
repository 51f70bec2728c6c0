// `sendense-run failback PLAN.yaml [--wait SECONDS]` (docs/replication.md#failback): after a
// failover, the planned switch back to the original: the standby shut down, its disks copied onto
// the original's (only what changed since the failover's point where both sides' bitmaps say so),
// the original started, the plan's syncs resumed. Recorded as a run of the plan (kind failback);
// a killed one is taken over by the next failback, and doctor says where it stopped.

import { holdVmForCommand } from '../engine/vm-turn.js';
import { existsSync } from 'node:fs';
import { SendenseError, usageError } from '../errors.js';
import type { RunReporter } from '../engine/run-events.js';
import { failBack } from '../failback/fail-back.js';
import { FAILBACK_JSON, printFailedBack } from '../failback/failback-output.js';
import { planCapability } from '../kinds/index.js';
import { loadPlanForRun } from '../plan/load.js';
import type { ReplicatePlan } from '../plan/types.js';
import { sourceCan } from '../source/source-types.js';
import { isPostgresUrl } from '../store/database-target.js';
import { openStore } from '../store/index.js';
import { loadHubConfig } from '../hub/hub-config.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { withRecordedRun } from './recorded-run.js';

const DEFAULT_WAIT_SECONDS = 300;

const OPTIONS = declareOptions([
  {
    name: '--wait',
    value: 'SECONDS',
    help: `how long the standby may take to shut down once asked (default ${DEFAULT_WAIT_SECONDS}); a guest that does not act on the ACPI shutdown is yours to stop`,
  },
]);

export const failbackCommand: CommandSpec = defineCommand({
  name: 'failback',
  usage: 'sendense-run failback PLAN.yaml [--wait SECONDS]',
  does: [
    'After a failover of a replicate plan (libvirt source): switch back to the original domain. The standby',
    '(the failed-over replica domain) is asked to shut down and waited for; its disks are copied onto the',
    "original's own images, on the source node, through the hub: only the blocks either side wrote since",
    "the failover's point when the standby's failback bitmap and the original's checkpoint of that point",
    'are intact, else every block. The point the standby wrote into gets its digests anew, the original is',
    "started, and the failover is forgotten: the plan's syncs go on from that point's checkpoint. The",
    'original must be defined and shut off (its writes since the failover are given up). Each phase is',
    'recorded first: a killed failback is finished by running it again (doctor says where it stopped);',
    'the original is never started while the standby runs, and no domain is ever stopped by force.',
  ].join('\n'),
  options: OPTIONS,
  exitCodes: [
    { code: 0, when: "failed back: the original runs on the standby's data and the plan's syncs go on" },
    {
      code: 1,
      when: "nothing to fail back (the plan is not failed over), the standby still runs after --wait (nothing copied), the original runs or is not defined, a disk's size differs, a sync holds the VM, or a node, libvirt or the copy failed (run failback again: it goes on from where it stopped)",
    },
    { code: 2, when: 'not a replicate plan of a libvirt source, an invalid plan, or a usage error' },
    { code: 130, when: 'interrupted (run failback again to finish)' },
  ],
  json: FAILBACK_JSON,
  run: runFailback,
});

async function runFailback(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  const [file, ...extra] = given.operands;
  if (file === undefined) throw usageError(`failback needs a replicate plan file (usage: ${failbackCommand.usage})`);
  if (extra.length > 0) throw usageError(`failback takes one plan file (got '${extra[0]}' too)`);
  const waitSeconds = parseWait(given.value('--wait'));
  const loaded = await loadPlanForRun(file, process.env);
  const plan = planCapability(loaded, 'replica');
  if (plan === undefined) throw usageError(`failback takes a replicate plan: ${file} is a ${loaded.kind} plan`);
  if (!sourceCan(plan.vm.source, 'hasLibvirtDomain'))
    throw usageError(
      `failback needs a libvirt source, a domain to start again: plan ${plan.name} (${file}) has a ${plan.vm.source.type} source`,
    );
  const hub = loadHubConfig(cli.hubConfig);
  if (!isPostgresUrl(cli.dbPath) && !existsSync(cli.dbPath))
    throw new SendenseError(
      `no state database at ${cli.dbPath}: plan ${plan.name} has no failover there (give --db or $SENDENSE_DB)`,
    );
  const store = await openStore(cli.dbPath, { hub: hub.name });
  try {
    return await failBackNow(cli, store, plan, waitSeconds);
  } finally {
    await store.close();
  }
}

async function failBackNow(
  cli: CliContext,
  store: Awaited<ReturnType<typeof openStore>>,
  plan: ReplicatePlan,
  waitSeconds: number,
): Promise<number> {
  // Before a run is recorded: a mistaken failback must not become the plan's failed last run.
  if ((await store.replicaFailover(plan.name)) === undefined)
    throw new SendenseError(
      `plan ${plan.name} is not failed over: there is nothing to fail back (sendense-run replicas shows its replica)`,
    );
  const record = { plan: plan.name, kind: 'failback', trigger: 'manual', planFile: plan.origin.file } as const;
  const say = (line: string) => {
    if (!cli.quiet) cli.stderr.write(`${line}\n`);
  };
  const reporter: RunReporter = {
    emit: (event) => {
      if (event.type === 'warning') cli.stderr.write(`warning: ${event.message}\n`);
      else if (event.type === 'info') say(event.message);
    },
    close: async () => undefined,
  };
  return withRecordedRun(
    cli,
    store,
    { record, stopOnSignal: { note: 'stopping (run failback again to finish)' } },
    async (run) => {
      // No sync (nor another failback) of the VM meanwhile.
      await holdVmForCommand(store, run, plan.vm.name, plan.name);
      const done = await failBack({ store, plan, runId: run.id, signal: run.signal, reporter, waitSeconds, say });
      await store.noteRun(
        run.id,
        `failed back to ${done.domain} on ${done.node} from ${done.standby}: ${done.copy === 'none' ? 'copied before' : `${done.copy} copy, ${done.bytesWritten} bytes`}; syncs resumed from point ${done.pointId}`,
      );
      printFailedBack(cli, plan, done);
    },
  );
}

function parseWait(text: string | undefined): number {
  if (text === undefined) return DEFAULT_WAIT_SECONDS;
  if (!/^\d+$/.test(text) || Number(text) > 86_400)
    throw usageError(`--wait ${text}: give whole seconds, from 0 to 86400`);
  return Number(text);
}
