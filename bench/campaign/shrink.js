// Shrinking a failing sequence (already cut at its failing step): single steps removed one at a
// time, newest first (each trial a fresh workspace), within a budget of trials and of time.
import { Campaign } from './campaign.js';

async function fails(steps, seed) {
  const trial = new Campaign();
  try {
    return (await trial.runSequence(steps, seed)) !== undefined;
  } finally {
    trial.close();
  }
}

// `until`: a Date.now() deadline; shrinking stops there with what it has.
export async function shrink(violation, log, until, budget = 40) {
  let steps = violation.steps;
  let trials = 0;
  for (let index = steps.length - 1; index >= 0 && trials < budget && Date.now() < until; index--) {
    trials += 1;
    const without = [...steps.slice(0, index), ...steps.slice(index + 1)];
    if (await fails(without, violation.seed)) {
      steps = without;
      log(`  shrink: ${steps.length} steps still fail`);
    }
  }
  return steps;
}
