// `sendense-run api --schedule`: `sendense-run schedule PATHS` beside the server, as its child,
// told of SIGHUP and stopped with it.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { findPackageRoot } from '../node/package-root.js';
import { signalProcess } from '../process/terminate-process.js';
import type { SayApiEvent } from './api-events.js';
import type { CliContext } from './context.js';

export function startScheduler(
  cli: CliContext,
  commonArgs: readonly string[],
  paths: readonly string[],
  say: SayApiEvent,
): ChildProcess {
  const bin = path.join(findPackageRoot(), 'bin', 'sendense-run.js');
  const child = spawn(process.execPath, [bin, ...(cli.json ? ['--json'] : []), ...commonArgs, 'schedule', ...paths], {
    stdio: ['pipe', 'inherit', 'inherit'],
    env: { ...process.env, SENDENSE_STOP_WITH_PARENT: '1' },
  });
  child.stdin?.on('error', () => {});
  child.once('close', (code) => {
    if (code !== 0)
      say({
        type: 'schedule-ended',
        level: 'error',
        message: `the scheduler ended (exit ${code}): plans are no longer run at their times`,
      });
  });
  return child;
}

// SIGTERM, and its end waited for.
export async function stopScheduler(scheduler: ChildProcess | undefined): Promise<void> {
  if (scheduler?.pid === undefined) return;
  signalProcess(scheduler.pid, 'SIGTERM');
  await new Promise((done) =>
    scheduler.exitCode !== null || scheduler.signalCode !== null ? done(undefined) : scheduler.once('close', done),
  );
}
