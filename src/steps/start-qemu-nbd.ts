// start-qemu-nbd: one qemu-nbd per disk on 127.0.0.1 and its leased port, accepting NBD before
// the next step; recorded by PID so doctor can find it if this process dies.

import { leasedDisks, type BackupDiskJob, type BackupRun, type RestoreDiskJob, type RestoreRun } from '../engine/run-context.js';
import type { Step } from '../engine/step.js';
import { SendenseError } from '../errors.js';
import { startQemuNbd } from '../qemu/index.js';

export const startQemuNbdServers: Step<BackupRun | RestoreRun> = {
  name: 'start-qemu-nbd',
  title: (run) => `serve ${run.state.disks.length} image(s) on 127.0.0.1 (qemu-nbd --shared=${run.plan.nbd.shared})`,
  async run(run) {
    const readOnly = run.plan.kind === 'restore';
    for (const disk of leasedDisks<BackupDiskJob | RestoreDiskJob>(run.state.disks)) {
      let spawned: number | undefined;
      const server = await startQemuNbd({
        file: disk.file,
        format: 'qcow2',
        port: disk.port,
        exportName: disk.exportName,
        shared: run.plan.nbd.shared,
        readOnly,
        onSpawn: async (pid, argv) => {
          spawned = pid;
          await run.store.recordProcess(run.runId, pid, 'qemu-nbd', argv);
        },
      }).catch(async (error: unknown) => {
        // startQemuNbd already stopped it; its record must not send doctor looking for it.
        if (spawned !== undefined) await run.store.forgetProcess(spawned);
        throw error;
      });
      disk.stopServer = () => server.stop();
      run.undo.push({
        what: `stop qemu-nbd (pid ${server.pid}) for disk ${disk.key}`,
        when: 'always',
        step: 'start-qemu-nbd',
        run: async () => {
          await server.stop();
          await run.store.forgetProcess(server.pid);
        },
      });
      // A target dying mid-run fails the run at once, with what qemu-nbd said.
      server.onExit((exit) => {
        if (exit.requested) return;
        const how = exit.signal ? `was killed (${exit.signal})` : `exited with code ${exit.exitCode}`;
        const said = exit.stderr.trim() ? `: ${exit.stderr.trim().split('\n').slice(-3).join(' | ')}` : '';
        run.abort(new SendenseError(`qemu-nbd for disk ${disk.key} (${disk.file}) ${how}${said}`, { disk: disk.key }));
      });
    }
    return run.state.disks.map((disk) => `${disk.key}: 127.0.0.1:${disk.port}/${disk.exportName}`).join(', ');
  },
  would(run) {
    if (run.plan.kind !== 'restore') return `qemu-nbd -f qcow2 --shared=${run.plan.nbd.shared} -b 127.0.0.1 on each leased port, one per disk`;
    return `qemu-nbd -r (read-only) on ${run.state.disks.length > 0 ? run.state.disks.map((disk) => disk.file).join(', ') : 'the backup files'}`;
  },
};
