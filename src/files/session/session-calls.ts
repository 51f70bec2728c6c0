// One call a files session answers on its socket (session-server.ts): the request line, then
// the files command's own code on the point held open (../point-reader.ts), its notes and its
// result or error as lines back. A caller that half-closes while its call runs interrupts it.

import type { Server, Socket } from 'node:net';
import type { BrowseSessions, PointKey } from '../../api/files/browse-sessions.js';
import { isSendenseError } from '../../errors.js';
import { LineSplitter } from '../../node/output-lines.js';
import { pointReaderOf } from '../point-reader.js';
import { decodeLine, encodeLine, type SessionLine, type SessionRequest } from './session-protocol.js';

/** What a running session's calls share with it. */
export interface LiveSession {
  readonly sessions: BrowseSessions;
  readonly key: PointKey;
  readonly idleSeconds: number;
  /** The calls answered on the point so far (info aside). */
  calls: number;
  server?: Server;
  /** Calls being answered: the session's end waits for them. */
  readonly connections: Set<Promise<void>>;
  /** Set once the session ends; then no call is taken. */
  ending?: Promise<number>;
  /** Ends the session and its process, saying why. */
  stop(why: string): void;
}

export async function answerCall(socket: Socket, live: LiveSession): Promise<void> {
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
      if (!answered) live.stop('interrupted by its caller');
    });
    if (call.op === 'info') {
      send({ ok: sessionInfo(live) });
      answered = true;
      return;
    }
    if (live.ending !== undefined || live.sessions.sessions().length === 0) {
      send({ error: { message: 'the files session is ending', exitCode: 1, retry: true } });
      answered = true;
      return;
    }
    live.calls++;
    const result = await pointCall(live, call, (line) => send({ note: line }));
    send({ ok: result });
    answered = true;
  } catch (error) {
    send({ error: errorLine(error) });
  } finally {
    socket.end();
  }
}

function sessionInfo(live: LiveSession) {
  const open = live.sessions.sessions()[0];
  return {
    pid: process.pid,
    appliancePid: open?.appliancePid,
    appliancesStarted: live.sessions.appliancesStarted,
    calls: live.calls,
    idleSeconds: live.idleSeconds,
  };
}

// The call on the point held open, as the files command runs it.
function pointCall(
  live: LiveSession,
  call: Exclude<SessionRequest, { op: 'info' }>,
  note: (line: string) => void,
): Promise<unknown> {
  return live.sessions.withOpened<unknown>(live.key, (opened) => {
    const reader = pointReaderOf(opened);
    if (call.op === 'layout') return reader.layout();
    if (call.op === 'list') return reader.list(call.where);
    process.umask(call.umask);
    return reader.extract(call.wanted, call.target, {
      overwrite: call.overwrite,
      keepSetuid: call.keepSetuid,
      progress: note,
    });
  });
}

export function errorLine(error: unknown): { message: string; exitCode: 1 | 2 | 130; bug?: boolean } {
  if (isSendenseError(error)) return { message: error.describe(), exitCode: error.exitCode };
  return { message: (error as Error)?.stack ?? String(error), exitCode: 1, bug: true };
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
