// What an API task's child reads on its stdin (docs/api.md#tasks). The server holds a pipe to it:
// the first line is the task's typed request (src/task/task-request.ts) when the server says so,
// and when the pipe ends (the server died, kill -9 included) the command stops as on SIGTERM (a run
// cleans up and exits 130), so no task outlives the server that owns it.

import { usageError } from '../errors.js';
import { parseTaskRequest, TASK_REQUEST_ENV, TASK_REQUEST_LIMIT, type TaskRequest } from '../task/task-request.js';

/** Sets up the stop with the parent; the request when this process is a task given one, else undefined. */
export async function readTaskInput(): Promise<TaskRequest | undefined> {
  const stopWithParent = process.env.SENDENSE_STOP_WITH_PARENT === '1';
  const wantsRequest = process.env[TASK_REQUEST_ENV] === 'stdin';
  delete process.env.SENDENSE_STOP_WITH_PARENT;
  delete process.env[TASK_REQUEST_ENV];
  if (!stopWithParent && !wantsRequest) return undefined;
  const stdin = process.stdin;
  let ended = false;
  const stop = () => {
    ended = true;
    if (stopWithParent) process.kill(process.pid, 'SIGTERM');
  };
  stdin.on('end', stop);
  stdin.on('error', stop);
  const request = wantsRequest ? await firstLine(stdin, () => ended) : undefined;
  stdin.resume();
  // The pipe alone must not keep a finished command alive.
  (stdin as { unref?: () => void }).unref?.();
  return request === undefined ? undefined : parseOrRefuse(request);
}

// The first line of the stream, without taking more of it than that line.
function firstLine(stream: NodeJS.ReadStream, ended: () => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      const newline = chunk.indexOf(10);
      text += chunk.subarray(0, newline === -1 ? chunk.length : newline).toString('utf8');
      if (text.length > TASK_REQUEST_LIMIT) return done(usageError('the task request is too long'));
      if (newline === -1) return;
      done(undefined);
    };
    const onEnd = () => done(usageError('the task request ended before its line did'));
    const done = (error: Error | undefined) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.pause();
      if (error) reject(error);
      else resolve(text);
    };
    if (ended()) return onEnd();
    stream.on('data', onData);
    stream.on('end', onEnd);
  });
}

function parseOrRefuse(text: string): TaskRequest {
  try {
    return parseTaskRequest(text);
  } catch (error) {
    throw usageError((error as Error).message);
  }
}
