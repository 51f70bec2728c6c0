// kill -9 at moments of a sync of a running libvirt domain (./replica-scene.ts), the body of
// ./replicate-libvirt-crash.test.ts (at the start of each step) and
// ./replicate-libvirt-crash-inside.test.ts (inside the steps): two files, each with its own guest,
// so vitest runs them at once. After doctor the replica is the previous point or a newer one, one
// point in time, nothing is left running, leased or written beside it, every point matches its
// digests, and the next sync goes on.

import { readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { countersAreOnePointInTime, virsh } from '../support/libvirt-guest.js';
import { waitForProcessGone } from '../support/processes.js';
import { leasedPorts, processesTaggedBy, recordedProcesses, tableRows } from '../support/process-tree.js';
import { runKilledAt, type KillMoment } from '../support/kill-moments.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { useReplicaScene } from './replica-scene.js';

// Registers the file's scene (guest `name`) and one test per moment; call at a file's top level.
export function killSyncsAt(name: string, moments: readonly KillMoment[]): void {
  const scene = useReplicaScene(name);
  const { ws, noted, seen, replicaCounters, points, sync, strayReplicaFiles } = scene;

  // A replica to keep: the first point, before any sync is killed.
  beforeAll(async () => {
    await sync();
  }, 180_000);

  describe('kill -9 at any moment of a sync', () => {
    for (const moment of moments) {
      it(`${moment.name}: after doctor the replica is a complete point, nothing is left, the next sync works`, async () => {
        const before = replicaCounters();
        const ended = await runKilledAt([scene.plan(), '--db', ws.db], moment, (pid) => {
          seen.add(pid);
          noted.add(pid);
        });
        // A run that ended before its seam says why in its output.
        if (moment.env)
          expect(ended.signal, `exit ${ended.exitCode}:\n${ended.stdout}\n${ended.stderr}`).toBe('SIGKILL');
        const doctor = await sendenseRun(['doctor', '--db', ws.db]);
        expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
        for (const left of processesTaggedBy(ended.pid))
          expect(await waitForProcessGone(left.pid), left.command.join(' ')).toBe(true);
        expect(recordedProcesses(ws.db)).toEqual([]);
        expect(leasedPorts(ws.db)).toEqual([]);
        expect(tableRows(ws.db, 'vm_locks')).toEqual([]);
        expect(tableRows(ws.db, 'node_resources')).toEqual([]);
        expect(points().filter((point) => !['complete', 'failed', 'folded'].includes(point.status))).toEqual([]);
        // The replica is one point in time, as new as before or newer (a sync written whole is installed).
        const after = replicaCounters();
        expect(countersAreOnePointInTime(after), JSON.stringify(after)).toBe(true);
        expect(after.vda64).toBeGreaterThanOrEqual(before.vda64);
        expect(strayReplicaFiles()).toEqual([]);
        // Every point still matches the digests its sync recorded (docs/replication.md#digests).
        const verified = await sendenseRun(['replicas', '--verify', scene.plan(), '--db', ws.db]);
        expect(verified.exitCode, `${verified.stdout}\n${verified.stderr}`).toBe(0);
        expect(verified.stdout).not.toMatch(/no digests|DAMAGED/);
        expect(readdirSync(path.join(scene.guest().dir, 'scratch'))).toEqual([]);
        expect(virsh('domjobinfo', scene.guest().name)).toMatch(/Job type:\s+None/);
        const again = await sendenseRun(['doctor', '--db', ws.db]);
        expect(again.stdout, 'a second doctor finds nothing').toContain('nothing left behind');
        const next = await sendenseRun([scene.plan(), '--db', ws.db]);
        expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
        expect(next.stdout, next.stderr).toMatch(/changes since point/);
        expect(countersAreOnePointInTime(replicaCounters())).toBe(true);
      }, 120_000);
    }
  });
}
