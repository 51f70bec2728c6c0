// A files session (docs/file-level-restore.md#files-sessions): the process `sendense-run files`
// starts to keep one point's appliance warm. It holds the point open through the API's browse
// sessions (src/api/files/browse-sessions.ts, one slot), answers later `files` calls of that point
// on a Unix socket in a private directory (./session-dir.ts) by running the files command's own
// code on it (../point-reader.ts), and ends when idle for its timeout, when its appliance dies, on
// SIGTERM (files --stop-sessions, doctor, forget, prune) or when a call is interrupted. Recorded
// under its own run before its directory exists (./session-record.ts).

import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { BrowseSessions, type PointKey, type ResolvedPoint } from '../../api/files/browse-sessions.js';
import { hideFromChildren } from '../../process/child-env.js';
import { processStartTicks } from '../../process/index.js';
import { offerRepositoryKey } from '../../repository/repository-keys.js';
import type { Store } from '../../store/index.js';
import { ensureBaseDir, makeSessionDir, newSessionDir, SESSION_SOCKET, sessionBaseDir } from './session-dir.js';
import { answerCall, errorLine, type LiveSession } from './session-calls.js';
import { decodeLine, encodeLine, type SessionLine } from './session-protocol.js';
import { forgetSession, recordSession } from './session-record.js';

export interface ServeSessionRequest {
  readonly dbPath: string;
  readonly point: ResolvedPoint;
  readonly idleSeconds: number;
}

/** The channel to the command that started it: its key in (stdin), its notes and readiness out (stdout). */
export interface StarterChannel {
  readonly input: Readable;
  readonly output: Writable;
}

// Where an encrypted point's key is kept in this process (never in a child's environment).
const KEY_VARIABLE = 'SENDENSE_FILES_SESSION_KEY';

export async function serveSession(
  store: Store,
  request: ServeSessionRequest,
  starter: StarterChannel,
): Promise<number> {
  let ready = false;
  const tell = (line: SessionLine) => {
    if (!ready) starter.output.write(encodeLine(line));
  };
  await takeStarterKey(starter.input);
  const { runId, dir, socketPath } = await recordedSession(store, request);
  const end = (why: string, failure?: unknown): Promise<number> =>
    (live.ending ??= endSession({ store, request, runId, dir, socketPath }, live, why, failure));
  const stop = (why: string) => void end(why).then(exit);
  const sessions = new BrowseSessions(store, {
    idleMs: request.idleSeconds * 1000,
    max: 1,
    note: (line) => tell({ note: line }),
    onClose: () => stop('idle or its appliance gone'),
  });
  const live: LiveSession = {
    sessions,
    key: pointKeyOf(request.point),
    idleSeconds: request.idleSeconds,
    calls: 0,
    connections: new Set(),
    stop,
  };
  const stopped = () => stop('stopped (SIGTERM)');
  process.once('SIGTERM', stopped);
  process.once('SIGINT', stopped);

  try {
    await sessions.withOpened(live.key, async () => {});
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      const handled = answerCall(socket, live).finally(() => live.connections.delete(handled));
      live.connections.add(handled);
    });
    live.server = server;
    await listen(server, socketPath);
  } catch (error) {
    tell({ error: errorLine(error) });
    exit(await end('failing to open the point', error));
    return 1;
  }
  tell({ ok: { pid: process.pid, dir } });
  ready = true;
  starter.output.end();
  return new Promise<number>(() => {}); // ends through end()
}

// The key the starting command wrote on stdin (an encrypted point's), kept out of every child's environment.
async function takeStarterKey(input: Readable): Promise<void> {
  const given = decodeLine<{ key?: string }>((await readAll(input)) || '{}');
  hideFromChildren(KEY_VARIABLE);
  if (given.key) {
    process.env[KEY_VARIABLE] = given.key;
    offerRepositoryKey({ keyEnv: KEY_VARIABLE });
  }
}

// The session's run and record, made before its directory so that nothing it leaves is unknown.
async function recordedSession(
  store: Store,
  request: ServeSessionRequest,
): Promise<{ runId: string; dir: string; socketPath: string }> {
  const run = await store.createRun({ plan: 'files', kind: 'files', trigger: 'manual' });
  const dir = newSessionDir(ensureBaseDir(sessionBaseDir(request.dbPath)));
  await recordSession(store, run.id, dir, {
    host: hostname(),
    pid: process.pid,
    startTicks: processStartTicks(process.pid) ?? 0,
    ...request.point,
    idleSeconds: request.idleSeconds,
  });
  makeSessionDir(dir);
  return { runId: run.id, dir, socketPath: path.join(dir, SESSION_SOCKET) };
}

function pointKeyOf(point: ResolvedPoint): PointKey {
  return {
    vm: point.vm,
    point: { type: 'id', id: point.backupId },
    disk: point.diskKey,
    repository: point.repository,
  };
}

// Closes the socket, the point and the calls under way, removes the directory and the record, and
// finishes the run; the process's exit code.
async function endSession(
  { store, request, runId, dir, socketPath }: SessionPlace,
  live: LiveSession,
  why: string,
  failure: unknown,
): Promise<number> {
  rmSync(socketPath, { force: true });
  live.server?.close();
  await live.sessions.closeAll();
  await Promise.allSettled([...live.connections]);
  rmSync(dir, { recursive: true, force: true });
  await forgetSession(store, dir);
  await store.noteRun(runId, `files session of backup ${request.point.backupId}: ${live.calls} calls, ended ${why}`);
  if (failure === undefined) await store.finishRun(runId, 'succeeded');
  else await store.finishRun(runId, 'failed', (failure as Error).message);
  await store.close();
  return failure === undefined ? 0 : 1;
}

// What the session's end gives back, and where.
interface SessionPlace {
  readonly store: Store;
  readonly request: ServeSessionRequest;
  readonly runId: string;
  readonly dir: string;
  readonly socketPath: string;
}

function exit(code: number): void {
  process.exit(code);
}

function readAll(input: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => (text += chunk));
    input.once('end', () => resolve(text));
    input.once('error', reject);
  });
}

function listen(server: Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // Made 0600: only its directory's owner could reach it anyway (0700), but not even that is assumed.
    const umask = process.umask(0o177);
    server.once('error', reject);
    server.listen(socketPath, () => {
      process.umask(umask);
      server.off('error', reject);
      resolve();
    });
  });
}
