// A files session (docs/file-level-restore.md#files-sessions): given back even while it runs, as
// it is only a warm appliance no command needs — stopped by its PID and start ticks (a call it is
// serving fails as interrupted), its socket directory removed; an API browse session is closed by
// its server (src/files/session/session-record.ts). One of another host is left to doctor there.

import { FILES_SESSION_RESOURCE, sessionOf, stopSession, isSessionAlive } from '../../files/session/session-record.js';
import type { RecoveryResourceKind } from './resource-kind.js';

export const filesSession: RecoveryResourceKind = {
  kind: FILES_SESSION_RESOURCE,
  rank: 65,
  whileRunning: true,
  describe: (resource) => {
    const session = sessionOf(resource);
    if (session.via === 'api')
      return `API browse session ${session.dir} (API server pid ${session.pid}) on VM ${session.vm} backup ${session.backupId} disk ${session.diskKey}`;
    return `files session pid ${session.pid} on VM ${session.vm} backup ${session.backupId} disk ${session.diskKey} (socket directory ${session.dir})`;
  },
  async giveBack({ doctor, resource, what }) {
    const session = sessionOf(resource);
    if (session.host !== doctor.here)
      return doctor.report(`${what} on ${session.host}`, 'left alone (another host): run sendense-run doctor there');
    const running = isSessionAlive(session);
    return doctor.act(
      what,
      session.via === 'api'
        ? running
          ? 'tell the API server to close it'
          : 'forget it (its API server is gone)'
        : running
          ? 'stop it and remove its socket directory'
          : 'remove its socket directory (the session is gone)',
      () => stopSession(doctor.store, session),
    );
  },
};
