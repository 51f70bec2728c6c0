// A files session (docs/file-level-restore.md#files-sessions): the process `sendense-run files`
// starts to keep one point's appliance warm. It holds the point open through the API's browse
// sessions (src/api/files/browse-sessions.ts, one slot), answers later `files` calls of that point
// on a Unix socket in a private directory (./session-dir.ts) by running the files command's own
// code on it (../point-reader.ts), and ends when idle for its timeout, when its appliance dies, on
// SIGTERM (files --stop-sessions, doctor, forget, prune) or when a call is interrupted. Recorded
// under its own run before its directory exists (./session-record.ts).

import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { BrowseSessions, type PointKey, type ResolvedPoint } from '../../api/files/browse-sessions.js';
import { isSendenseError } from '../../errors.js';
import { LineSplitter } from '../../node/output-lines.js';
import { hideFromChildren } from '../../process/child-env.js';
import { processStartTicks } from '../../process/index.js';
import { offerRepositoryKey } from '../../repository/repository-keys.js';
import type { Store } from '../../store/index.js';
import { pointReaderOf } from '../point-reader.js';
import { ensureBaseDir, makeSessionDir, newSessionDir, SESSION_SOCKET, sessionBaseDir } from './session-dir.js';
import { decodeLine, encodeLine, type SessionLine, type SessionRequest } from './session-protocol.js';
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
  const given = decodeLine<{ key?: string }>((await readAll(starter.input)) || '{}');
  hideFromChildren(KEY_VARIABLE);
  if (given.key) {
    process.env[KEY_VARIABLE] = given.key;
    offerRepositoryKey({ keyEnv: KEY_VARIABLE });
  }

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
  const socketPath = path.join(dir, SESSION_SOCKET);

  let calls = 0;
  let server: Server | undefined;
  const connections = new Set<Promise<void>>();
  let ending: Promise<number> | undefined;
  const end = (why: string, failure?: unknown): Promise<number> =>
    (ending ??= (async () => {
      rmSync(socketPath, { force: true });
      server?.close();
      await sessions.closeAll();
      await Promise.allSettled([...connections]);
      rmSync(dir, { recursive: true, force: true });
      await forgetSession(store, dir);
      await store.noteRun(run.id, `files session of backup ${request.point.backupId}: ${calls} calls, ended ${why}`);
      if (failure === undefined) await store.finishRun(run.id, 'succeeded');
      else await store.finishRun(run.id, 'failed', (failure as Error).message);
      await store.close();
      return failure === undefined ? 0 : 1;
    })());

  const sessions = new BrowseSessions(store, {
    idleMs: request.idleSeconds * 1000,
    max: 1,
    note: (line) => tell({ note: line }),
    onClose: () => void end('idle or its appliance gone').then(exit),
  });
  const key: PointKey = {
    vm: request.point.vm,
    point: { type: 'id', id: request.point.backupId },
    disk: request.point.diskKey,
    repository: request.point.repository,
  };
  const stop = () => void end('stopped (SIGTERM)').then(exit);
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  try {
    await sessions.withOpened(key, async () => {});
    server = createServer({ allowHalfOpen: true }, (socket) => {
      const handled = handle(socket).finally(() => connections.delete(handled));
      connections.add(handled);
    });
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

  async function handle(socket: Socket): Promise<void> {
    socket.on('error', () => {});
    const send = (line: SessionLine) => {
      if (socket.writable) socket.write(encodeLine(line));
    };
    try {
      const wanted = await firstLine(socket);
      if (wanted === undefined) return;
      const call = decodeLine<SessionRequest>(wanted);
      // The command half-closed while its call ran: interrupted, as Ctrl+C stops the appliance of a files without session.
      let answered = false;
      socket.once('end', () => {
        if (!answered) void end('interrupted by its caller').then(exit);
      });
      if (call.op === 'info') {
        const open = sessions.sessions()[0];
        send({
          ok: {
            pid: process.pid,
            appliancePid: open?.appliancePid,
            appliancesStarted: sessions.appliancesStarted,
            calls,
            idleSeconds: request.idleSeconds,
          },
        });
        answered = true;
        return;
      }
      if (ending !== undefined || sessions.sessions().length === 0) {
        send({ error: { message: 'the files session is ending', exitCode: 1, retry: true } });
        answered = true;
        return;
      }
      calls++;
      const result = await sessions.withOpened<unknown>(key, (opened) => {
        const reader = pointReaderOf(opened);
        if (call.op === 'layout') return reader.layout();
        if (call.op === 'list') return reader.list(call.where);
        process.umask(call.umask);
        return reader.extract(call.wanted, call.target, {
          overwrite: call.overwrite,
          keepSetuid: call.keepSetuid,
          progress: (line) => send({ note: line }),
        });
      });
      send({ ok: result });
      answered = true;
    } catch (error) {
      send({ error: errorLine(error) });
    } finally {
      socket.end();
    }
  }
}

function exit(code: number): void {
  process.exit(code);
}

function errorLine(error: unknown): { message: string; exitCode: 1 | 2 | 130; bug?: boolean } {
  if (isSendenseError(error)) return { message: error.describe(), exitCode: error.exitCode };
  return { message: (error as Error)?.stack ?? String(error), exitCode: 1, bug: true };
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

// The request line; undefined when the caller went away first.
function firstLine(socket: Socket): Promise<string | undefined> {
  return new Promise((resolve) => {
    const lines = new LineSplitter();
    let done = false;
    lines.onLine((line) => {
      if (done) return;
      done = true;
      socket.off('data', push);
      resolve(line);
    });
    const push = (chunk: Buffer) => lines.push(chunk);
    socket.on('data', push);
    socket.once('close', () => {
      if (!done) resolve(undefined);
    });
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
