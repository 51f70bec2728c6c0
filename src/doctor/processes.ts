// Recorded processes (qemu-nbd, nbdkit, ...) of runs that are not alive: stopped by PID and start
// time, never by name; a record whose process is already gone is forgotten. A hub qemu-nbd on a
// Unix socket in its run's private directory (start-qemu-nbd) takes the socket and, the last one,
// the directory with it.

import { rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { isProcessAlive, terminateProcess } from '../process/index.js';
import { SERVE_SOCKET_DIR_PREFIX } from '../qemu/socket-dir.js';
import type { ProcessRecord } from '../store/records.js';
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
          await removeServeSocket(record);
          await store.forgetProcess(record.pid, record.startTicks);
        });
      } else {
        await act(`${label} (already gone)`, 'forget its record', async () => {
          await removeServeSocket(record);
          await store.forgetProcess(record.pid, record.startTicks);
        });
      }
    }
  },
};

// Stopped, qemu-nbd removes its socket itself; one killed outright leaves it.
async function removeServeSocket(record: ProcessRecord): Promise<void> {
  const socket = record.argv.find((arg) => arg.startsWith('--socket='))?.slice('--socket='.length);
  if (socket === undefined || !path.basename(path.dirname(socket)).startsWith(SERVE_SOCKET_DIR_PREFIX)) return;
  await rm(socket, { force: true });
  // Still holding another disk's socket: that disk's record removes the directory.
  await rmdir(path.dirname(socket)).catch(() => undefined);
}
