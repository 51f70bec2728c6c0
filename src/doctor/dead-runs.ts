// Runs left `running` whose process died: killed, or it lost the state database and could not
// record its end; either way it is over. Last in the list: the other sweepers judge by these runs.

import type { Sweeper } from './sweeper.js';

export const deadRunsSweeper: Sweeper = {
  name: 'dead runs',
  tables: ['runs'],
  async sweep({ store, deadRuns, act }) {
    for (const run of deadRuns.values()) {
      await act(`run ${run.id} of plan ${run.plan} (pid ${run.pid} died)`, 'mark it failed', () =>
        store.finishRun(
          run.id,
          'failed',
          `the run's process (pid ${run.pid}) ended without recording its end (killed, or it lost the state database); cleaned up by doctor`,
        ),
      );
    }
  },
};
