// `sendense-run PLAN.yaml --dry-run`: prints what each step of the plan would do, as the steps
// themselves describe it (engine/dry-run-plan.ts); the state database is only read, and not
// created when it does not exist yet. It exits as the run would: 1 when a step says the run would
// fail there (docs/commands.md).

import { existsSync } from 'node:fs';
import { dryRunPlan } from '../engine/dry-run-plan.js';
import { loadHubConfig } from '../hub/hub-config.js';
import { loadPlanForRun } from '../plan/load.js';
import { isPostgresUrl } from '../store/database-target.js';
import { IN_MEMORY, openStore } from '../store/index.js';
import type { CliContext } from './context.js';
import { printJson } from '../output/json-output.js';
import type { DryRunLine } from './dry-run-json.js';

export async function dryRunCommand(cli: CliContext, file: string): Promise<number> {
  const plan = await loadPlanForRun(file, process.env);
  // Its rate and windows: the transfer says where it would be limited (docs/bandwidth.md).
  const hub = loadHubConfig(cli.hubConfig);
  const newDatabase = !isPostgresUrl(cli.dbPath) && !existsSync(cli.dbPath);
  const store = await openStore(newDatabase ? IN_MEMORY : cli.dbPath);
  try {
    const steps = await dryRunPlan(plan, { store, newDatabase, hub });
    const exitCode = steps.some((step) => step.fails) ? 1 : 0;
    if (cli.json) {
      printJson<DryRunLine>(cli, {
        plan: plan.name,
        kind: plan.kind,
        file: plan.origin.file,
        wouldFail: exitCode !== 0,
        steps,
      });
      return exitCode;
    }
    cli.stdout.write(`dry run of ${plan.kind} plan ${plan.name} (${plan.origin.file}); nothing is changed\n`);
    const width = Math.max(...steps.map((s) => s.step.length));
    steps.forEach((s, index) => {
      const [first, ...rest] = s.does.split('\n');
      cli.stdout.write(`${String(index + 1).padStart(2)}. ${s.step.padEnd(width)}  ${first}\n`);
      for (const line of rest) cli.stdout.write(`    ${' '.repeat(width)}  ${line}\n`);
    });
    return exitCode;
  } finally {
    await store.close();
  }
}
