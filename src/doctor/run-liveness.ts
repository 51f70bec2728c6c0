// Which runs are over: a run of this host whose process is gone is dead; any other run still
// marked running is alive and its things are left alone.

import type { Run, Store } from '../store/index.js';
import { isProcessAlive } from '../process/index.js';

export interface RunLiveness {
  readonly deadRuns: ReadonlyMap<string, Run>;
  readonly liveRuns: ReadonlySet<string>;
  isLive(runId: string): Promise<boolean>;
}

export async function runLiveness(store: Store, here: string): Promise<RunLiveness> {
  const isDead = (run: Run) => run.hostname === here && run.pid !== null && !isProcessAlive(run.pid);
  const running = await store.runningRuns();
  const deadRuns = new Map(running.filter(isDead).map((run) => [run.id, run]));
  const liveRuns = new Set(running.filter((run) => !deadRuns.has(run.id)).map((run) => run.id));
  // A run that started after `running` was read is alive too: ask again before touching its things.
  const isLive = async (runId: string): Promise<boolean> => {
    if (deadRuns.has(runId)) return false;
    if (liveRuns.has(runId)) return true;
    if ((await store.getRun(runId))?.status !== 'running') return false;
    liveRuns.add(runId);
    return true;
  };
  return { deadRuns, liveRuns, isLive };
}
