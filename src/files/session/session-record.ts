// A files session as the state database knows it (docs/file-level-restore.md#files-sessions): a
// node resource of kind files-session under the session's own run, named by its socket directory
// and recorded before that directory exists, with the session's PID and start ticks — so doctor,
// forget and prune find exactly that process, never one by name. The API's browse sessions are
// recorded too (src/api/files/browse-records.ts), under the API server's PID: one is ended by
// forgetting its record and telling the server (SIGUSR2), which closes it and ends its run.

import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { SendenseError } from '../../errors.js';
import { LOCAL_NODE_ID } from '../../node/node.js';
import { isProcessAlive, signalProcess, terminateProcess } from '../../process/index.js';
import type { DiskKey } from '../../plan/types.js';
import type { NodeResource, Store } from '../../store/index.js';

export const FILES_SESSION_RESOURCE = 'files-session';

export interface SessionFacts {
  readonly host: string;
  readonly pid: number;
  readonly startTicks: number;
  readonly vm: string;
  readonly backupId: string;
  readonly diskKey: DiskKey;
  readonly repository: string;
  readonly idleSeconds: number;
  /** api: a browse session of the API server `pid` (no socket directory; `dir` only names it). */
  readonly via?: 'api';
  /** An API session's appliance (the libguestfs agent). */
  readonly appliancePid?: number;
}

export interface SessionRecord extends SessionFacts {
  /** Its socket directory. */
  readonly dir: string;
  readonly runId: string;
  readonly since: string;
}

export function recordSession(store: Store, runId: string, dir: string, facts: SessionFacts): Promise<void> {
  return store.recordNodeResource({
    runId,
    node: LOCAL_NODE_ID,
    kind: FILES_SESSION_RESOURCE,
    name: dir,
    facts: { ...facts },
  });
}

export function forgetSession(store: Store, dir: string): Promise<void> {
  return store.forgetNodeResource(LOCAL_NODE_ID, FILES_SESSION_RESOURCE, dir);
}

export function sessionOf(resource: NodeResource): SessionRecord {
  return {
    ...(resource.facts as unknown as SessionFacts),
    dir: resource.name,
    runId: resource.runId,
    since: resource.since,
  };
}

/** The files sessions recorded on this host, oldest first (`vm`: of that VM only). */
export async function sessionsHere(store: Store, vm?: string): Promise<SessionRecord[]> {
  return (await store.allNodeResources())
    .filter((resource) => resource.kind === FILES_SESSION_RESOURCE)
    .map(sessionOf)
    .filter((session) => session.host === hostname() && (vm === undefined || session.vm === vm));
}

export function isSessionAlive(session: Pick<SessionFacts, 'pid' | 'startTicks'>): boolean {
  return isProcessAlive(session.pid, session.startTicks);
}

// Ended by SIGTERM (a call it is serving fails as interrupted and leaves nothing in its target,
// then it closes its appliance and removes its directory), killed if it does not end; whatever it
// left, removed. Returns whether it was still running.
export async function stopSession(store: Store, session: SessionRecord): Promise<boolean> {
  if (session.via === 'api') return stopApiSession(store, session);
  const outcome = await terminateProcess(session.pid, { startTicks: session.startTicks, timeoutMs: 30_000 });
  // Only a directory named as sessions name theirs (session-dir.ts).
  if (path.basename(session.dir).startsWith('s-')) await rm(session.dir, { recursive: true, force: true });
  await forgetSession(store, session.dir);
  // Killed, or gone before it could say: its run is over all the same.
  const run = await store.getRun(session.runId);
  if (run?.status === 'running' && !isProcessAlive(session.pid, session.startTicks))
    await store.finishRun(session.runId, 'interrupted', 'the files session was stopped');
  return outcome !== 'not-running';
}

// How long an API server may take to close a browse session it was told to end (its appliance
// stops, an encrypted point's qemu-nbd with it): generous, for a loaded host.
const API_CLOSE_MS = 120_000;

// The record forgotten (the server's sign that this session is to end), the server told, and its
// run waited for; a server that is gone leaves only its record, and its run is ended here.
async function stopApiSession(store: Store, session: SessionRecord): Promise<boolean> {
  const running = isSessionAlive(session);
  await forgetSession(store, session.dir);
  if (running) {
    signalProcess(session.pid, 'SIGUSR2');
    const deadline = Date.now() + API_CLOSE_MS;
    while ((await store.getRun(session.runId))?.status === 'running' && isSessionAlive(session)) {
      if (Date.now() >= deadline) return true;
      // Recorded again: a download or listing reads it still, and goes on.
      if ((await sessionsHere(store)).some((again) => again.dir === session.dir))
        throw new SendenseError(
          `backup ${session.backupId} of VM ${session.vm} is open in another process: the API (pid ${session.pid}) is reading it for a download or listing; try again when that ends`,
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  if ((await store.getRun(session.runId))?.status === 'running')
    await store.finishRun(session.runId, 'interrupted', 'the API server of this browse session is gone');
  return running;
}

// What forget and prune do before a point of `vm` is merged or removed: every session of this host
// on that VM ended, so no appliance reads a file while it changes. Returns one line per session.
export async function endSessionsOf(store: Store, vm: string): Promise<string[]> {
  const lines: string[] = [];
  for (const session of await sessionsHere(store, vm)) {
    const running = await stopSession(store, session);
    const which =
      session.via === 'api' ? `API browse session (API pid ${session.pid})` : `files session pid ${session.pid}`;
    lines.push(
      running
        ? `ended the ${which} on backup ${session.backupId} of VM ${vm} (no appliance reads a point while it changes)`
        : `removed what the ${which} (gone) left for backup ${session.backupId} of VM ${vm}`,
    );
  }
  return lines;
}
