// The API's browse sessions as files sessions the state database knows
// (docs/file-level-restore.md#files-sessions): each one opened is recorded (its own run, the API
// server's PID, its appliance's), so `files --sessions` lists it and doctor, forget, prune and a
// run's retention can end it. Another process ends one by forgetting its record and sending the
// server SIGUSR2 (src/files/session/session-record.ts); the server then closes each session whose
// record is gone, and its run ends.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { processStartTicks } from '../../process/index.js';
import { forgetSession, recordSession, sessionsHere, type SessionFacts } from '../../files/session/session-record.js';
import type { Store } from '../../store/index.js';
import type { ResolvedPoint } from './resolved-point.js';

export interface BrowseRecorder {
  /** The session's record made; its name. */
  opened(point: ResolvedPoint, appliancePid: number, idleSeconds: number): Promise<string>;
  /** Its record forgotten (if another process has not) and its run ended. */
  closed(name: string): Promise<void>;
  /** The names of this server's sessions still recorded. */
  recorded(): Promise<ReadonlySet<string>>;
  /** Recorded again: another process forgot it while a download or listing read it, which goes on. */
  kept(name: string): Promise<void>;
}

export function browseRecorder(store: Store): BrowseRecorder {
  const runs = new Map<string, string>();
  const facts = new Map<string, SessionFacts>();
  return {
    async opened(point, appliancePid, idleSeconds) {
      const run = await store.createRun({ plan: 'files', kind: 'files', trigger: 'manual' });
      const name = `api:${process.pid}:${randomBytes(6).toString('hex')}`;
      runs.set(name, run.id);
      const recorded: SessionFacts = {
        host: hostname(),
        pid: process.pid,
        startTicks: processStartTicks(process.pid) ?? 0,
        ...point,
        idleSeconds,
        via: 'api',
        appliancePid,
      };
      facts.set(name, recorded);
      await recordSession(store, run.id, name, recorded);
      return name;
    },
    async closed(name) {
      const runId = runs.get(name);
      runs.delete(name);
      facts.delete(name);
      const recorded = (await store.allNodeResources()).some((resource) => resource.name === name);
      await forgetSession(store, name);
      if (runId === undefined) return;
      await store.noteRun(
        runId,
        recorded ? 'API browse session closed' : 'API browse session ended by another process (a merge, doctor)',
      );
      if ((await store.getRun(runId))?.status === 'running') await store.finishRun(runId, 'succeeded');
    },
    async kept(name) {
      const runId = runs.get(name);
      const known = facts.get(name);
      if (runId !== undefined && known !== undefined) await recordSession(store, runId, name, known);
    },
    async recorded() {
      const own = (await sessionsHere(store)).filter((session) => runs.has(session.dir));
      return new Set(own.map((session) => session.dir));
    },
  };
}
