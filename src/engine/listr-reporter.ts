// The terminal view: one listr2 task per step, driven by the engine's events (the engine, not
// listr2, owns control flow and signals — listr2's own handlers would exit 127 on Ctrl+C).

import { Listr, type ListrTaskWrapper } from 'listr2';
import { formatBytes } from '../format/bytes.js';
import type { RunEvent, RunReporter } from './run-events.js';

interface Deferred {
  resolve: () => void;
  reject: (error: Error) => void;
  skip?: string;
  settled?: boolean;
  task?: ListrTaskWrapper<unknown, never, never>;
  lines: string[];
}

export function createListrReporter(out: NodeJS.WritableStream): RunReporter {
  const steps = new Map<string, Deferred>();
  const progress = new Map<number, string>();
  let current: string | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const notes: string[] = [];

  const start = (names: readonly string[]) => {
    const tasks = names.map((name) => {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      const deferred: Deferred = { resolve, reject, lines: [] };
      steps.set(name, deferred);
      return {
        title: name,
        task: async (_ctx: unknown, task: ListrTaskWrapper<unknown, never, never>) => {
          deferred.task = task;
          await done;
          if (deferred.skip !== undefined) task.skip(`${name}: ${deferred.skip}`);
        },
      };
    });
    const listr = new Listr(tasks, {
      concurrent: false,
      exitOnError: false,
      registerSignalListeners: false,
    });
    running = listr.run().catch(() => undefined);
  };

  const refreshOutput = (name: string) => {
    const deferred = steps.get(name);
    if (!deferred?.task) return;
    deferred.task.output = [...deferred.lines.slice(-3), ...progress.values()].join('\n');
  };

  return {
    emit(event: RunEvent) {
      switch (event.type) {
        case 'run-start':
          start(event.steps);
          break;
        case 'step-start': {
          current = event.step;
          const deferred = steps.get(event.step);
          if (deferred?.task) deferred.task.title = `${event.step}: ${event.title}`;
          break;
        }
        case 'step-done': {
          const deferred = steps.get(event.step);
          if (deferred?.task && event.summary) deferred.task.title = `${event.step}: ${event.summary}`;
          progress.clear();
          if (deferred) deferred.settled = true;
          deferred?.resolve();
          break;
        }
        case 'step-skip': {
          const deferred = steps.get(event.step);
          if (deferred) {
            deferred.skip = event.reason;
            deferred.settled = true;
            deferred.resolve();
          }
          break;
        }
        case 'step-fail': {
          const deferred = steps.get(event.step);
          if (deferred) deferred.settled = true;
          deferred?.reject(new Error(event.error));
          break;
        }
        case 'progress': {
          const pct = event.bytesToDo === 0 ? 100 : Math.floor((event.bytesDone / event.bytesToDo) * 100);
          progress.set(event.disk, `disk ${event.disk}: ${formatBytes(event.bytesDone)} / ${formatBytes(event.bytesToDo)} (${pct}%)`);
          if (current) refreshOutput(current);
          break;
        }
        case 'info':
        case 'warning': {
          const text = event.type === 'warning' ? `warning: ${event.message}` : event.message;
          if (event.type === 'warning') notes.push(text);
          const deferred = current ? steps.get(current) : undefined;
          deferred?.lines.push(text);
          if (current) refreshOutput(current);
          break;
        }
        case 'run-end': {
          for (const deferred of steps.values()) {
            if (deferred.settled) continue;
            deferred.skip = 'not reached';
            deferred.resolve();
          }
          void running.then(() => {
            for (const note of notes) out.write(`${note}\n`);
            const tail = event.backupId ? `, backup ${event.backupId}` : '';
            const error = event.error ? `: ${event.error}` : '';
            out.write(`run ${event.runId} ${event.status} in ${event.seconds.toFixed(1)} s${tail}${error}\n`);
          });
          break;
        }
      }
    },
    close: async () => {
      await running;
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}
