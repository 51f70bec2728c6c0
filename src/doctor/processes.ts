// Recorded processes (qemu-nbd, nbdkit, ...) of runs that are not alive: stopped by PID and start
// time, never by name; a record whose process is already gone is forgotten.

import { isProcessAlive, terminateProcess } from '../process/index.js';
import type { Sweeper } from './sweeper.js';

export const processesSweeper: Sweeper = {
  name: 'processes',
  tables: ['processes'],
  async sweep({ store, isLive, kept, act }) {
    for (const record of await store.allProcesses()) {
      if (kept.has(record.runId) || (await isLive(record.runId))) continue;
      const label = `${record.kind} pid ${record.pid} of run ${record.runId}`;
      if (isProcessAlive(record.pid, record.startTicks)) {
        await act(label, 'stop it', async () => {
          await terminateProcess(record.pid, { startTicks: record.startTicks });
          await store.forgetProcess(record.pid, record.startTicks);
        });
      } else {
        await act(`${label} (already gone)`, 'forget its record', () => store.forgetProcess(record.pid, record.startTicks));
      }
    }
  },
};
