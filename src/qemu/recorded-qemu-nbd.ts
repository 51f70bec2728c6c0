// A qemu-nbd recorded in the state database by PID the moment it exists, so doctor stops it if we
// die (docs/how-it-works.md#the-data-path); a start that fails forgets its record again. And what
// one that exits unasked said, in one line. Shared by the runs' start-qemu-nbd and by `serve`.

import { processStartTicks } from '../process/index.js';
import { startQemuNbd, type QemuNbd, type QemuNbdExit, type QemuNbdOptions } from './qemu-nbd.js';

/** Where the process is recorded (the Store, structurally). */
export interface ProcessRecords {
  recordProcess(
    runId: string,
    pid: number,
    kind: string,
    argv: readonly string[],
    startTicks?: number,
  ): Promise<unknown>;
  forgetProcess(pid: number, startTicks?: number): Promise<void>;
}

export async function startRecordedQemuNbd(
  records: ProcessRecords,
  runId: string,
  options: Omit<QemuNbdOptions, 'onSpawn'>,
): Promise<QemuNbd> {
  let spawned: number | undefined;
  return startQemuNbd({
    ...options,
    onSpawn: async (pid, argv, startTicks) => {
      spawned = pid;
      await records.recordProcess(runId, pid, 'qemu-nbd', argv, startTicks ?? processStartTicks(pid));
    },
  }).catch(async (error: unknown) => {
    // startQemuNbd already stopped it; its record must not send doctor looking for it.
    if (spawned !== undefined) await records.forgetProcess(spawned);
    throw error;
  });
}

// "qemu-nbd for disk 2000 (/repo/…qcow2) was killed (SIGKILL): <its last lines>"
export function unaskedExitMessage(exit: QemuNbdExit, disk: number, file: string): string {
  const how = exit.signal ? `was killed (${exit.signal})` : `exited with code ${exit.exitCode}`;
  const said = exit.stderr.trim() ? `: ${exit.stderr.trim().split('\n').slice(-3).join(' | ')}` : '';
  return `qemu-nbd for disk ${disk} (${file}) ${how}${said}`;
}
