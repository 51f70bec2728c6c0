// Shrinking a failing sequence (already cut at its failing step): its shortest failing suffix,
// then single steps removed one at a time, newest first (each trial a fresh workspace), within a
// budget of trials and of time.
import { Campaign } from './campaign.js';

async function fails(steps, seed, mode, until) {
  const trial = new Campaign({ mode });
  try {
    return (await trial.runSequence(steps, seed, until)) !== undefined;
  } finally {
    await trial.close();
  }
}

// `until`: a Date.now() deadline; shrinking stops there with what it has.
export async function shrink(violation, mode, log, until, budget = 40) {
  let steps = violation.steps;
  let trials = 0;
  // Most violations need only the last few steps: the shortest failing suffix first (8, 16, 32...).
  for (let length = 8; length < steps.length && trials < budget && Date.now() < until; length *= 2) {
    trials += 1;
    if (await fails(steps.slice(-length), violation.seed, mode, until)) {
      steps = steps.slice(-length);
      log(`  shrink: the last ${length} steps alone still fail`);
      break;
    }
  }
  for (let index = steps.length - 1; index >= 0 && trials < budget && Date.now() < until; index--) {
    trials += 1;
    const without = [...steps.slice(0, index), ...steps.slice(index + 1)];
    if (await fails(without, violation.seed, mode, until)) {
      steps = without;
      log(`  shrink: ${steps.length} steps still fail`);
    }
  }
  return steps;
}
