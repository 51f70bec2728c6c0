// Processes a dead run started but had not recorded yet (killed between spawn and record): found
// by the owner tag every child of sendense-run carries (process/owner-tag.ts), never by name.

import { terminateProcess } from '../process/index.js';
import { orphansOf } from '../process/owner-tag.js';
import type { Sweeper } from './sweeper.js';

export const orphanProcessesSweeper: Sweeper = {
  name: 'orphan processes',
  tables: [],
  async sweep({ stateDatabase, act }) {
    for (const orphan of orphansOf(stateDatabase)) {
      await act(`${orphan.command} pid ${orphan.pid} started by sendense-run pid ${orphan.ownerPid}, which is gone`, 'stop it', () => terminateProcess(orphan.pid, { startTicks: orphan.startTicks }));
    }
  },
};
