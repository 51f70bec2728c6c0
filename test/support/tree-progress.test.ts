// The harness's bound on a CLI run (test/support/tree-progress.ts): a process tree that works (a
// child using CPU, however slowly) is never taken for stalled; one that sleeps and prints nothing is,
// once its quiet time has passed.

import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { watchProgress } from './tree-progress.js';

const started: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  // Each in a process group of its own: the group goes, the shell's busy child with it.
  for (const child of started.splice(0)) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
});

// Resolves true when the watch calls the tree stalled within `withinMs`, false otherwise.
function stalledWithin(pid: number, quietMs: number, withinMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const stop = watchProgress(
      pid,
      () => 0,
      quietMs,
      () => resolve(true),
    );
    setTimeout(() => {
      stop();
      resolve(false);
    }, withinMs);
  });
}

describe('progress of a process tree', () => {
  it('a shell whose child keeps working is not stalled; one whose child sleeps is', async () => {
    // The work is in a grandchild: the shell itself waits, as sendense-run waits on qemu-img.
    const working = spawn('sh', ['-c', 'sh -c "while :; do :; done"; :'], {
      stdio: 'ignore',
      detached: true,
    });
    const sleeping = spawn('sh', ['-c', 'sleep 600; :'], { stdio: 'ignore', detached: true });
    started.push(working, sleeping);
    const [workingStalled, sleepingStalled] = await Promise.all([
      stalledWithin(working.pid!, 5000, 15_000),
      stalledWithin(sleeping.pid!, 5000, 15_000),
    ]);
    expect(workingStalled).toBe(false);
    expect(sleepingStalled).toBe(true);
  });
});
