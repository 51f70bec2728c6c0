// Tasks of this hub that another API server runs (docs/api.md#tasks): a second server on the same
// state (a TLS listener beside a loopback one), or one restarted before the old one drained. A task
// whose process lives (its PID and that PID's start time) is left running: its own server records
// its end in the store, where this one reads it. One whose process is gone while nobody recorded its
// end is marked lost; checked again and again, since its server may die while this one serves.

import { isProcessAlive } from '../process/process-identity.js';
import type { ApiTask } from '../store/api-records.js';
import type { Store } from '../store/index.js';

const LOST = 'the API server ended while the task ran (see history and doctor)';

// How often the others' running tasks are looked at again.
const RECHECK_MS = 5_000;

// Its process still runs. Without a recorded start time (a task of an older version), a live PID
// is taken as its process: left running rather than lost by mistake.
export function taskProcessLives(task: ApiTask): boolean {
  return task.pid !== null && isProcessAlive(task.pid, task.pidStartTicks);
}

export class TasksLeftRunning {
  private timer: NodeJS.Timeout | undefined;
  // Tasks seen without a process once: lost at the next look unless their server records the end
  // meanwhile (it does within moments of its process ending).
  private readonly goneOnce = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly hub: string,
    /** This server's own tasks, which it records itself. */
    private readonly isOwn: (id: string) => boolean,
  ) {}

  /** At start: a dead server's tasks marked lost, the others counted; then looked at again and again. */
  async recover(): Promise<{ readonly lost: number; readonly running: number }> {
    let lost = 0;
    let running = 0;
    for (const task of await this.store.api.runningTasks(this.hub)) {
      if (this.isOwn(task.id)) continue;
      if (taskProcessLives(task)) running++;
      else if (await this.store.api.loseTask(task.id, LOST)) lost++;
    }
    this.timer = setInterval(() => void this.recheck().catch(() => {}), RECHECK_MS);
    this.timer.unref();
    return { lost, running };
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async recheck(): Promise<void> {
    const others = (await this.store.api.runningTasks(this.hub)).filter((task) => !this.isOwn(task.id));
    const gone = new Set(others.filter((task) => !taskProcessLives(task)).map((task) => task.id));
    for (const id of gone) if (this.goneOnce.has(id)) await this.store.api.loseTask(id, LOST);
    this.goneOnce.clear();
    for (const id of gone) this.goneOnce.add(id);
  }
}
