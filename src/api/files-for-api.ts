// The files routes' implementation (docs/api.md#files-of-a-point): warm browse sessions over
// points (./files/browse-sessions.ts, the code `sendense-run files` uses), each recorded as a files
// session (./files/browse-records.ts) and ended on SIGUSR2 once another process forgot its record;
// their refusals as the API's errors.

import { isSendenseError } from '../errors.js';
import { parseDiskOption } from '../files/backup-point.js';
import type { Store } from '../store/index.js';
import { ApiError } from './api-error.js';
import { browseRecorder } from './files/browse-records.js';
import { BrowseSessions } from './files/browse-sessions.js';
import { FilesRequestError } from './files/files-request-error.js';
import type { ApiFiles, PointKey } from './files-port.js';

export function openFilesForApi(store: Store): ApiFiles {
  const sessions = new BrowseSessions(store, { recorder: browseRecorder(store) });
  const endForgotten = () => void sessions.endForgotten().catch(() => undefined);
  process.on('SIGUSR2', endForgotten);
  const key = (given: PointKey) => ({
    vm: given.vm,
    point: given.point,
    ...(given.repository ? { repository: given.repository } : {}),
    ...(given.disk ? { disk: parseDiskOption(given.disk) } : {}),
  });
  return {
    filesystems: (given, options) =>
      answer(
        async () =>
          (options?.wait ? undefined : await sessions.starting(key(given))) ?? sessions.filesystems(key(given)),
      ),
    // The fast path first, when it reads the filesystem and no session of the point is open.
    list: (given, path, options) =>
      answer(async () => {
        const fast = await sessions.fastList(key(given), path);
        if (fast !== undefined) return { path, ...fast };
        const starting = options?.wait ? undefined : await sessions.starting(key(given));
        if (starting !== undefined) return starting;
        return { path, reader: 'appliance', entries: await sessions.list(key(given), path) };
      }),
    stat: (given, path) => answer(() => sessions.stat(key(given), path)),
    openFile: (given, path, range) =>
      answer(async () => {
        const opened = await sessions.openFile(key(given), path, range);
        return { size: opened.size, stream: opened.stream };
      }),
    zipDirectory: (given, path, out, signal) =>
      answer(
        async () =>
          void (await sessions.zipDirectory(key(given), path, out, { ...(signal ? { signal } : {}), compress: false })),
      ),
    tarZstDirectory: (given, path, out, signal) =>
      answer(async () => void (await sessions.tarZstDirectory(key(given), path, out, signal ? { signal } : {}))),
    // The SIGUSR2 listener stays: a signal while going down must not end the server before its cleanup.
    closeAll: () => sessions.closeAll(),
  };
}

const CODES = {
  'bad-request': 'bad-request',
  'not-found': 'not-found',
  'wrong-type': 'conflict',
  range: 'bad-request',
  busy: 'unavailable',
} as const;

async function answer<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof FilesRequestError) throw new ApiError(CODES[error.refusal], error.message);
    if (isSendenseError(error)) throw ApiError.fromCommand(error.exitCode, error.describe());
    throw error;
  }
}
