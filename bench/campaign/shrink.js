// Shrinking a failing sequence: the shortest prefix that still fails, then single steps removed
// one at a time (each trial a fresh workspace), within a budget of trials.
import { Campaign } from './campaign.js';

async function fails(steps, seed) {
  const trial = new Campaign();
  try {
    return (await trial.runSequence(steps, seed)) !== undefined;
  } finally {
    trial.close();
  }
}

export async function shrink(violation, log, budget = 40) {
  let steps = violation.steps;
  let trials = 0;
  for (let index = steps.length - 1; index >= 0 && trials < budget; index--) {
    trials += 1;
    const without = [...steps.slice(0, index), ...steps.slice(index + 1)];
    if (await fails(without, violation.seed)) {
      steps = without;
      log(`  shrink: ${steps.length} steps still fail`);
    }
  }
  return steps;
}
