// `sendense-run retire PLAN.yaml [--dry-run]`: a backup plan of a libvirt domain stops leaving
// change tracking on it: its checkpoints (and their bitmaps) deleted, its points kept, its chains
// recorded as retired so its next run, if any, is a full into a new chain (docs/commands.md#retire,
// docs/how-it-works.md#checkpoints-on-a-domain). Holds the VM's lock like prune and forget.

import { holdVmForCommand } from '../engine/vm-turn.js';
import { retirePlan, type LibvirtBackupPlan, type RetireOutcome } from '../checkpoints/retire-plan.js';
import { SendenseError, usageError } from '../errors.js';
import { planCapability } from '../kinds/index.js';
import { loadPlanForRun } from '../plan/load.js';
import type { Plan } from '../plan/types.js';
import { isLibvirtDomainSource } from '../source/source-types.js';
import { plural } from '../format/plural.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import { withExistingStore } from './open-existing-store.js';
import { withRecordedRun } from './recorded-run.js';

const OPTIONS = declareOptions([
  { name: '--dry-run', help: 'print the checkpoints it would delete and the chains it would retire; change nothing' },
]);

type RetireLine = {
  readonly type: 'retired';
  readonly plan: string;
  readonly domain: string;
  readonly dryRun: boolean;
} & Omit<RetireOutcome, 'domainGone'> & { readonly domainGone: string | null };

const JSON_OUTPUT: JsonOutput = {
  intro: 'One object. A refusal (the VM busy) is the usual `{ "type": "error", … }`.',
  lines: typedLines<RetireLine>({
    retired: {
      when: 'the plan is retired (with `--dry-run`: what would be done)',
      fields: {
        plan: '',
        domain: '',
        dryRun: '',
        chains: 'the ids of the chains retired',
        points: 'how many points are kept',
        checkpoints: 'the names of the checkpoints deleted (with `--dry-run`: that would be)',
        otherOrphans:
          "the other orphaned checkpoints on the domain (no plan's: doctor's, with `--remove-orphaned-checkpoints`)",
        domainGone: 'when the domain no longer exists, why nothing was looked for there; else null',
      },
    },
  }),
};

export const retireCommand: CommandSpec = defineCommand({
  name: 'retire',
  usage: 'sendense-run retire PLAN.yaml [--dry-run]',
  does:
    "Retire a backup plan of a libvirt domain: its checkpoints on the domain (and their bitmaps in the disks'\n" +
    'images) are deleted, its points are kept, all restorable, and its chains are recorded as retired first, so\n' +
    'its next run, if it runs again, takes a full into a new chain (never a failure, whatever\n' +
    "incremental.onMissingChain says). Other plans' checkpoints and other tools' are never touched. Holds the\n" +
    "VM's lock: refused while a run holds the VM. A domain that no longer exists has nothing to delete: its\n" +
    'chains are retired all the same.',
  options: OPTIONS,
  exitCodes: [
    { code: 0, when: 'retired (with --dry-run: what it would do was printed)' },
    {
      code: 1,
      when: 'the VM is busy (a run holds it: try again when it ends), or libvirt or the node could not be asked or a checkpoint not deleted (the chains are retired: run retire again, or doctor --remove-orphaned-checkpoints)',
    },
    {
      code: 2,
      when: 'invalid plan, a plan that is not a backup plan of a libvirt domain, or a usage error; nothing was changed',
    },
  ],
  json: JSON_OUTPUT,
  run: runRetire,
});

async function runRetire(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  const dryRun = given.flag('--dry-run');
  if (given.operands.length !== 1)
    throw usageError('retire takes exactly one plan file (sendense-run retire PLAN.yaml)');
  const plan = libvirtBackupPlan(await loadPlanForRun(given.operands[0]!, process.env));
  return withExistingStore(cli, async (store) => {
    if (dryRun) {
      report(cli, plan, await retirePlan(store, plan, 'dry-run'), true);
      return 0;
    }
    const record = { plan: plan.name, kind: 'retire', trigger: 'manual', planFile: plan.origin.file } as const;
    return withRecordedRun(cli, store, { record }, async (run) => {
      await holdVmForCommand(store, run, plan.vm.name, plan.name);
      const outcome = await retirePlan(store, plan, run);
      await store.noteRun(
        run.id,
        `retired: ${plural(outcome.checkpoints.length, 'checkpoint')} deleted, ${plural(outcome.chains.length, 'chain')} retired, ${plural(outcome.points, 'point')} kept`,
      );
      report(cli, plan, outcome, false);
    });
  });
}

function libvirtBackupPlan(plan: Plan): LibvirtBackupPlan {
  const backups = planCapability(plan, 'chains');
  if (backups !== undefined && isLibvirtDomainSource(backups.vm.source)) return backups as LibvirtBackupPlan;
  throw new SendenseError(
    `${plan.origin.file}: retire takes a backup plan of a libvirt domain (kind backup or incremental, source.type libvirt); this is a ${plan.kind} plan${'vm' in plan && 'source' in plan.vm ? ` of a ${plan.vm.source.type} source` : ''}`,
    { exitCode: 2 },
  );
}

function report(cli: CliContext, plan: LibvirtBackupPlan, outcome: RetireOutcome, dryRun: boolean): void {
  const { domain } = plan.vm.source;
  if (cli.json) {
    printJson<RetireLine>(cli, {
      type: 'retired',
      plan: plan.name,
      domain,
      dryRun,
      ...outcome,
      domainGone: outcome.domainGone ?? null,
    });
    return;
  }
  const would = dryRun ? 'would be ' : '';
  if (outcome.domainGone !== undefined) cli.stdout.write(`${outcome.domainGone}: no checkpoint to delete\n`);
  for (const name of outcome.checkpoints) cli.stdout.write(`checkpoint ${name} of domain ${domain}: ${would}deleted\n`);
  for (const chain of outcome.chains) cli.stdout.write(`chain ${chain}: ${would}retired\n`);
  const next = dryRun ? '' : `; its next run, if any, takes a full into a new chain`;
  cli.stdout.write(
    `plan ${plan.name} ${dryRun ? 'would be ' : ''}retired: ${plural(outcome.checkpoints.length, 'checkpoint')} ${would}deleted, ${plural(outcome.points, 'point')} in ${plan.repository.path} kept${next}\n`,
  );
  if (outcome.otherOrphans > 0)
    cli.stdout.write(
      `${plural(outcome.otherOrphans, 'other orphaned checkpoint')} on domain ${domain} (no plan's): sendense-run checkpoints ${domain}; doctor --remove-orphaned-checkpoints deletes them\n`,
    );
}
