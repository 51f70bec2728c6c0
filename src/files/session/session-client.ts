// The files command's side of a files session (docs/file-level-restore.md#files-sessions): the
// running session of the point found through the state database (its directory checked before
// anything connects: ./session-dir.ts), waited for while it opens, or started — a detached
// `sendense-run files --serve-session` whose notes this command prints until it is ready. An
// encrypted point's key goes to a session it starts on that session's stdin, never through the
// socket or a command line; a command with no key (or the wrong one) is refused before any of
// this, as without a session. Each call is one connection (./session-protocol.ts).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { SendenseError } from '../../errors.js';
import { LineSplitter } from '../../node/output-lines.js';
import { findPackageRoot } from '../../node/package-root.js';
import { childEnv } from '../../process/child-env.js';
import { OWNER_VARIABLE } from '../../process/owner-tag.js';
import { readUserKey, type KeySource } from '../../repository/user-key.js';
import type { Store } from '../../store/index.js';
import type { PointFile } from '../backup-point.js';
import type { PointReader } from '../point-reader.js';
import { checkedSocket, ensureBaseDir, sessionBaseDir } from './session-dir.js';
import {
  decodeLine,
  encodeLine,
  type SessionAnswers,
  type SessionLine,
  type SessionRequest,
} from './session-protocol.js';
import { isSessionAlive, sessionsHere, type SessionRecord } from './session-record.js';

export const DEFAULT_IDLE_SECONDS = 300;
const POLL_MS = 200;
// How long a command waits for another command's session to open its point (an appliance under TCG: a minute or two).
const OPENING_WAIT_MS = 15 * 60_000;

export interface SessionOptions {
  readonly dbPath: string;
  /** Of a session this command starts. */
  readonly idleSeconds: number;
  /** Given to a session this command starts for an encrypted point. */
  readonly key?: KeySource;
  readonly encrypted: boolean;
  /** What the command prints on stderr, one line each. */
  readonly note: (line: string) => void;
}

export interface SessionReader extends PointReader {
  /** The session's PID. */
  readonly pid: number;
  /** Ctrl+C: the call running is stopped (the session stops its appliance and ends). */
  interrupt(): void;
}

export async function openSessionReader(
  store: Store,
  found: PointFile,
  options: SessionOptions,
): Promise<SessionReader> {
  let session = await sessionFor(store, found, options);
  let current: Socket | undefined;
  let interrupted = false;

  async function call<K extends keyof SessionAnswers>(request: SessionRequest): Promise<SessionAnswers[K]> {
    for (let attempt = 0; ; attempt++) {
      const answer = await callOnce<K>(session, request, options.note, (socket) => {
        current = socket;
        if (interrupted) socket.end();
      });
      if (answer.retry === undefined) return answer.value!;
      // It ended between being found and being asked (its idle timeout): another one answers.
      if (attempt > 0 || interrupted) throw answer.retry;
      session = await sessionFor(store, found, options);
    }
  }

  return {
    get pid() {
      return session.pid;
    },
    where: found.where,
    layout: () => call<'layout'>({ op: 'layout' }),
    list: (where) => call<'list'>({ op: 'list', where }),
    extract: (wanted, target, extract) =>
      call<'extract'>({
        op: 'extract',
        wanted,
        target,
        overwrite: extract.overwrite,
        keepSetuid: extract.keepSetuid ?? false,
        umask: currentUmask(),
      }),
    interrupt() {
      interrupted = true;
      current?.end();
    },
  };
}

// What `files --sessions` shows of a running session (undefined when it does not answer).
export async function askSessionInfo(session: SessionRecord): Promise<SessionAnswers['info'] | undefined> {
  try {
    const answer = await callOnce<'info'>(
      { pid: session.pid, socket: checkedSocket(session.dir) },
      { op: 'info' },
      () => {},
      () => {},
    );
    return answer.value;
  } catch {
    return undefined;
  }
}

interface Found {
  readonly pid: number;
  readonly socket: string;
}

// The point's running session (waited for while it opens), or a new one.
async function sessionFor(store: Store, found: PointFile, options: SessionOptions): Promise<Found> {
  const base = ensureBaseDir(sessionBaseDir(options.dbPath));
  const same = (session: SessionRecord) =>
    session.backupId === found.backup.id &&
    session.diskKey === found.disk.diskKey &&
    session.repository === found.backup.repository;
  const deadline = Date.now() + OPENING_WAIT_MS;
  let said = false;
  for (;;) {
    const candidates = (await sessionsHere(store, found.backup.vm)).filter(same).filter(isSessionAlive).reverse();
    let opening: SessionRecord | undefined;
    for (const session of candidates) {
      if (path.dirname(session.dir) !== base) continue; // another base (XDG_RUNTIME_DIR differs): not reachable from here
      const socket = checkedSocket(session.dir);
      if (existsSync(socket)) {
        options.note(`using files session pid ${session.pid} (${found.where})`);
        return { pid: session.pid, socket };
      }
      opening ??= session;
    }
    if (opening === undefined || Date.now() > deadline) break;
    if (!said) options.note(`waiting for files session pid ${opening.pid} to open ${found.where}`);
    said = true;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return startSession(found, base, options);
}

async function startSession(found: PointFile, base: string, options: SessionOptions): Promise<Found> {
  const env = childEnv({ SENDENSE_DB: options.dbPath });
  // Not this command's child for doctor's orphan sweep: it is meant to outlive the command, and is recorded itself.
  delete env[OWNER_VARIABLE];
  const bin = path.join(findPackageRoot(), 'bin', 'sendense-run.js');
  const args = [
    bin,
    'files',
    '--serve-session',
    found.backup.vm,
    '--backup',
    found.backup.id,
    '--disk',
    String(found.disk.diskKey),
    '--repository',
    found.backup.repository,
    '--session-idle',
    String(options.idleSeconds),
  ];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['pipe', 'pipe', 'ignore'], env });
  child.stdin.on('error', () => {});
  const key = options.encrypted && options.key !== undefined ? readUserKey(options.key) : undefined;
  child.stdin.end(encodeLine({ ...(key === undefined ? {} : { key }) } as never));
  // Ctrl+C while it opens: the session this command started is stopped, as the appliance would be.
  const stop = () => child.kill('SIGTERM');
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const ready = await new Promise<{ pid: number; dir: string }>((resolve, reject) => {
      const lines = new LineSplitter();
      let settled = false;
      lines.onLine((text) => {
        if (settled || !text.startsWith('{')) return;
        const line = decodeLine<SessionLine>(text);
        if ('note' in line) options.note(line.note);
        else {
          settled = true;
          if ('ok' in line) resolve(line.ok as { pid: number; dir: string });
          else reject(errorOf(line.error));
        }
      });
      child.stdout.on('data', (chunk: Buffer) => lines.push(chunk));
      child.once('error', (error) => {
        settled = true;
        reject(error);
      });
      child.once('close', (code, signal) => {
        if (settled) return;
        settled = true;
        reject(
          new SendenseError(
            signal === 'SIGTERM' || signal === 'SIGINT'
              ? 'interrupted: the appliance was stopped and nothing was left in the target'
              : `the files session ended before it was ready (${signal ?? `exit ${code}`})`,
            { exitCode: signal === null ? 1 : 130 },
          ),
        );
      });
    });
    child.stdout.destroy();
    child.unref();
    options.note(
      `files session pid ${ready.pid} keeps ${found.where} open until ${options.idleSeconds} s idle (files --stop-sessions ends it)`,
    );
    if (path.dirname(ready.dir) !== base)
      throw new SendenseError(`files session pid ${ready.pid} listens in ${ready.dir}, not in ${base}`);
    return { pid: ready.pid, socket: checkedSocket(ready.dir) };
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

interface Answer<T> {
  readonly value?: T;
  readonly retry?: Error;
}

function callOnce<K extends keyof SessionAnswers>(
  session: Found,
  request: SessionRequest,
  note: (line: string) => void,
  connected: (socket: Socket) => void,
): Promise<Answer<SessionAnswers[K]>> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path: session.socket, allowHalfOpen: true });
    let settled = false;
    const settle = (work: () => void) => {
      if (settled) return;
      settled = true;
      work();
      socket.destroy();
    };
    const lines = new LineSplitter();
    lines.onLine((text) => {
      const line = decodeLine<SessionLine>(text);
      if ('note' in line) note(line.note);
      else if ('ok' in line) settle(() => resolve({ value: line.ok as SessionAnswers[K] }));
      else if (line.error.retry) settle(() => resolve({ retry: errorOf(line.error) }));
      else settle(() => reject(errorOf(line.error)));
    });
    socket.once('connect', () => {
      socket.write(encodeLine(request));
      connected(socket);
    });
    socket.on('data', (chunk: Buffer) => lines.push(chunk));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      settle(() =>
        // Gone between being found and being asked: another session answers.
        error.code === 'ECONNREFUSED' || error.code === 'ENOENT'
          ? resolve({ retry: new SendenseError(`files session pid ${session.pid} is gone`) })
          : reject(new SendenseError(`files session pid ${session.pid}: ${error.message}`, { cause: error })),
      ),
    );
    socket.once('close', () =>
      settle(() =>
        reject(
          new SendenseError(`files session pid ${session.pid} ended during the call (see files --sessions, doctor)`),
        ),
      ),
    );
  });
}

function errorOf(error: { message: string; exitCode: 1 | 2 | 130; bug?: boolean }): Error {
  if (error.bug) return new Error(`in the files session: ${error.message}`);
  return new SendenseError(error.message, { exitCode: error.exitCode });
}

function currentUmask(): number {
  const mask = process.umask(0o022);
  process.umask(mask);
  return mask;
}
