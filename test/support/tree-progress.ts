// Whether a process and its children are still moving: the CPU time they used (their reaped
// children's included) and what they printed. Test bounds wait on lack of progress, not on a
// total, so a loaded machine makes a run slower without making it fail (docs/testing.md).

import { readdirSync, readFileSync } from 'node:fs';

const LOOK_EVERY_MS = 2000;

// CPU ticks used by `root` and every live process under it.
export function treeCpuTicks(root: number): number {
  const stats = new Map<number, string[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = readFileSync(`/proc/${name}/stat`, 'utf8');
      // After the command's ')': state ppid ... utime (12th) stime cutime cstime.
      stats.set(Number(name), text.slice(text.lastIndexOf(')') + 2).split(' '));
    } catch {
      // Gone meanwhile.
    }
  }
  let ticks = 0;
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    const fields = stats.get(pid);
    if (fields !== undefined) ticks += [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index]), 0);
    for (const [child, childFields] of stats) if (Number(childFields[1]) === pid) queue.push(child);
  }
  return ticks;
}

// Calls `onStalled` once `root`'s tree has used no CPU time and `output()` has not grown for
// `quietMs`; returns the stop function of the watch.
export function watchProgress(root: number, output: () => number, quietMs: number, onStalled: () => void): () => void {
  let moved = Date.now();
  let [ticks, printed] = [treeCpuTicks(root), output()];
  const timer = setInterval(() => {
    const [nowTicks, nowPrinted] = [treeCpuTicks(root), output()];
    if (nowTicks !== ticks || nowPrinted !== printed) [ticks, printed, moved] = [nowTicks, nowPrinted, Date.now()];
    else if (Date.now() - moved > quietMs) {
      clearInterval(timer);
      onStalled();
    }
  }, LOOK_EVERY_MS);
  return () => clearInterval(timer);
}
