// Processes a dead run started but had not recorded yet (killed between spawn and record): found
// by the owner tag every child of sendense-run carries (process/owner-tag.ts), never by name.

import { terminateProcess } from '../process/index.js';
import { orphansOf } from '../process/owner-tag.js';
import type { Sweeper } from './sweeper.js';

export const orphanProcessesSweeper: Sweeper = {
  name: 'orphan processes',
  tables: [],
  async sweep({ store, stateDatabase, kept, act }) {
    const keptPids = new Set(
      (await store.allProcesses()).filter((record) => kept.has(record.runId)).map((record) => record.pid),
    );
    for (const orphan of orphansOf(stateDatabase)) {
      if (keptPids.has(orphan.pid)) continue;
      await act(
        `${orphan.command} pid ${orphan.pid} started by sendense-run pid ${orphan.ownerPid}, which is gone`,
        'stop it',
        () => terminateProcess(orphan.pid, { startTicks: orphan.startTicks }),
      );
    }
  },
};
