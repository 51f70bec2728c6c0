// The running server's signals (docs/api.md#serving-it): SIGHUP reads the plans again; the first
// SIGINT/SIGTERM stops new requests, cancels running tasks and waits for their cleanup, a second
// only says it is still cleaning up.

import type { ChildProcess } from 'node:child_process';
import type { FastifyInstance } from 'fastify';
import type { ApiFiles } from '../api/files-port.js';
import type { PlanSet } from '../api/plan-set.js';
import type { TaskManager } from '../api/tasks.js';
import { signalProcess } from '../process/terminate-process.js';
import type { SayApiEvent } from './api-events.js';
import { stopScheduler } from './api-scheduler.js';

export interface RunningApi {
  readonly app: FastifyInstance;
  readonly tasks: TaskManager;
  readonly plans: PlanSet;
  readonly files: ApiFiles;
  readonly scheduler: ChildProcess | undefined;
  readonly say: SayApiEvent;
}

// Resolves once a stop has given everything back (the store is left to the caller).
export function untilStopped(running: RunningApi): Promise<void> {
  const { app, tasks, plans, files, scheduler, say } = running;
  return new Promise<void>((resolve) => {
    let stopping = false;
    const onHangup = () => {
      plans.reload();
      if (scheduler?.pid !== undefined) signalProcess(scheduler.pid, 'SIGHUP');
      say({ type: 'reloading', level: 'info', message: 'SIGHUP: plans read again' });
    };
    const onStop = (signal: NodeJS.Signals) => {
      if (stopping) {
        say({ type: 'stopping', level: 'warning', message: `${signal} again: still cleaning up, please wait` });
        return;
      }
      stopping = true;
      say({
        type: 'stopping',
        level: 'info',
        signal,
        message: `${signal} received: no new requests; cancelling ${tasks.runningCount()} running task(s)`,
      });
      void (async () => {
        await app.close().catch(() => {});
        await tasks.stopAll();
        await stopScheduler(scheduler);
        await files.closeAll();
        process.off('SIGHUP', onHangup);
        process.off('SIGINT', onStop);
        process.off('SIGTERM', onStop);
        resolve();
      })();
    };
    process.on('SIGHUP', onHangup);
    process.on('SIGINT', onStop);
    process.on('SIGTERM', onStop);
  });
}
