// Failback after a failover (docs/replication.md#failback), with real libvirt and the busybox guest
// writing its counters (test/support/libvirt-guest.ts): the original is lost, the replica domain
// takes over and writes; `status` says the plan is failed over (exit 0); `failback` refuses while
// the standby ignores the shutdown, then, killed at every phase (doctor after each, never stopping
// or starting a domain), is finished by running it again: the original's disks are then the
// standby's at the switch byte for byte, only the changes were copied, the original resumes from
// the standby's counter, and the plan's syncs go on (incremental, every digest good).

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { killAtEnv, type CrashPoint } from '../../src/crash-points.js';
import { readCounter, startGuest, virsh, virshResult, waitFor, type TestGuest } from '../support/libvirt-guest.js';
import { tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { parseEvents, sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { domainImages, exists, removeDomain } from '../libvirt/recover-support.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('replica-failback-', { per: 'file' });
let guest: TestGuest;
let replicaDir: string;
let plan: string;
let replicaDomain: string;
/** Complete points, oldest first. */
const points: string[] = [];

beforeAll(async () => {
  guest = await startGuest({ name: 'failback', prefillMiB: 8 });
  replicaDomain = `${guest.name}-replica`;
  replicaDir = path.join(guest.dir, 'replica');
  mkdirSync(replicaDir, { mode: 0o755 });
  mkdirSync(path.join(guest.dir, 'scratch'), { mode: 0o755 });
  plan = path.join(ws.dir, 'failback-replica.yaml');
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'replicate',
      name: 'failback-replica',
      vm: {
        name: 'bvm',
        source: { type: 'libvirt', domain: guest.name, quiesce: 'off', scratch: path.join(guest.dir, 'scratch') },
      },
      replica: { path: path.join(replicaDir, 'bvm-{key}.qcow2'), points: 3, domain: replicaDomain },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
    }),
  );
  for (let sync = 0; sync < 2; sync++) {
    const from = guest.rounds();
    await waitFor(() => guest.rounds() >= from + 2, 60_000, 'the guest to write');
    points.push(await runSync());
  }
}, 400_000);

afterAll(() => {
  if (replicaDomain !== undefined) removeDomain(replicaDomain);
  guest?.remove();
});

async function runSync(): Promise<string> {
  const result = await sendenseRun([plan, '--json', '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return parseEvents(result.stdout).find((event) => event.type === 'run-end')!.backupId!;
}

const MiB = 1024 * 1024;
/** Where the lost original writes after the last sync: no guest round writes there. */
const LOST_AT = 100 * MiB;
const replicaPath = (key: number) => path.join(replicaDir, `bvm-${key}.qcow2`);
const originalImage = (key: number) => guest.images[key === 2000 ? 'vda' : 'vdb']!;
const state = (domain: string) => virshResult('domstate', domain).stdout.trim();
// Both shut off: the same guest bytes, whatever the images' layout (qemu-img compare reads the backing chains).
const sameContent = (a: string, b: string) =>
  spawnSync('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'qcow2', a, b]).status === 0;

async function doctorLeavesDomains(expectOriginal: string): Promise<string> {
  const doctor = await sendenseRun(['doctor', '--db', ws.db]);
  expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
  // doctor never stops or starts a domain: the standby stays shut off, the original as it was.
  expect(state(replicaDomain)).toBe('shut off');
  expect(state(guest.name)).toBe(expectOriginal);
  expect(tableRows(ws.db, 'vm_locks')).toEqual([]);
  return doctor.stdout;
}

async function killedFailback(point: CrashPoint): Promise<string> {
  const result = await sendenseRun(['failback', plan, '--db', ws.db], killAtEnv(point));
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).not.toBe(0);
  expect(result.stdout).not.toContain('failed back');
  return result.stderr;
}

describe('failback', () => {
  it('after a failover and writes on the standby: killed at every phase, finished by running it again, the original equal to the standby byte for byte, the syncs going on', async () => {
    // The original is lost, having written after the last sync where the standby never writes:
    // that must be undone on the original too (its checkpoint of the point recorded it).
    guest.destroy();
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x5a ${LOST_AT} 64k`, originalImage(2000)], {
      stdio: 'ignore',
    });
    const failover = await sendenseRun(['failover', plan, '--db', ws.db]);
    expect(failover.exitCode, `${failover.stdout}\n${failover.stderr}`).toBe(0);
    expect(state(replicaDomain)).toBe('running');
    const before = readCounter(replicaPath(2000), 0);
    await waitFor(() => guest.consoleText().includes(`RESUME ${before}`), 120_000, 'the standby to boot');
    const fromStandby = guest.consoleText().length;
    await waitFor(
      () =>
        (
          guest
            .consoleText()
            .slice(fromStandby)
            .match(/^W \d+ /gm) ?? []
        ).length >= 4,
      120_000,
      'the standby to write',
    );

    // A plan failed over on purpose: status says so and where to go back, exit 0 (its refused sync is no failure).
    const refused = await sendenseRun([plan, '--db', ws.db]);
    expect(refused.exitCode).toBe(1);
    const failedOver = await sendenseRun(['status', plan, '--db', ws.db]);
    expect(failedOver.exitCode, `${failedOver.stdout}\n${failedOver.stderr}`).toBe(0);
    expect(failedOver.stdout).toMatch(
      new RegExp(
        `^failback-replica: failed over to ${replicaDomain} on this host at .* \\(point ${points[1]}\\), syncs stopped \\(failback: sendense-run failback ${plan}\\)$`,
        'm',
      ),
    );
    const statusJson = await sendenseRun(['status', plan, '--json', '--db', ws.db]);
    expect(JSON.parse(statusJson.stdout)).toMatchObject({
      failedOver: { domain: replicaDomain, pointId: points[1], failback: `sendense-run failback ${plan}` },
    });

    // The busybox guest does not act on an ACPI shutdown: refused after --wait, nothing copied.
    const ignored = await sendenseRun(['failback', plan, '--wait', '2', '--db', ws.db]);
    expect(ignored.exitCode, `${ignored.stdout}\n${ignored.stderr}`).toBe(1);
    expect(ignored.stderr).toContain(
      `${replicaDomain} on this host is still running 2 s after it was asked to shut down (its guest did not act on the ACPI shutdown)`,
    );
    expect(ignored.stderr).toContain('nothing was copied');
    expect(state(replicaDomain)).toBe('running');
    expect(state(guest.name)).toBe('shut off');
    expect(tableRows(ws.db, 'replica_failovers')).toHaveLength(1);
    expect(tableRows(ws.db, 'node_resources')).toEqual([]);

    // The operator stops the standby (a power cut for this guest: QEMU still saves its bitmaps).
    virsh('destroy', replicaDomain);
    const standbyCounter = readCounter(replicaPath(2000), 0);
    expect(standbyCounter).toBeGreaterThan(before);

    // Killed with the standby shut off and nothing copied: nothing to report.
    await killedFailback('failback.standby-stopped');
    expect(await doctorLeavesDomains('shut off')).not.toContain('unfinished failback');

    const halfway = await killedFailback('failback.disk-copied');
    expect(halfway).not.toContain('every block');
    expect(await doctorLeavesDomains('shut off')).toContain(`unfinished failback of plan failback-replica (run `);
    expect((await sendenseRun(['doctor', '--dry-run', '--db', ws.db])).stdout).toContain(
      `the disks of ${guest.name} are half written, do not start it`,
    );
    // Only the failback's record is left (the socket directory and qemu-nbd given back).
    expect(tableRows(ws.db, 'node_resources')).toMatchObject([{ kind: 'failback', name: 'failback-replica' }]);

    await killedFailback('failback.copied');
    await doctorLeavesDomains('shut off');
    // At the switch: the original's disks are the standby's, byte for byte.
    for (const key of [2000, 2001]) expect(sameContent(originalImage(key), replicaPath(key)), `disk ${key}`).toBe(true);

    const consoleFrom = guest.consoleText().length;
    await killedFailback('failback.original-started');
    expect(state(guest.name)).toBe('running');
    await doctorLeavesDomains('running');
    expect(tableRows(ws.db, 'replica_failovers')).toHaveLength(1);

    const done = await sendenseRun(['failback', plan, '--json', '--db', ws.db]);
    expect(done.exitCode, `${done.stdout}\n${done.stderr}`).toBe(0);
    expect(JSON.parse(done.stdout.trim().split('\n').at(-1)!)).toMatchObject({
      type: 'failed-back',
      domain: guest.name,
      standby: replicaDomain,
      pointId: points[1],
      copy: 'none',
    });
    expect(tableRows(ws.db, 'replica_failovers')).toEqual([]);
    expect(tableRows(ws.db, 'node_resources')).toEqual([]);
    expect(tableRows(ws.db, 'vm_locks')).toEqual([]);
    expect(state(replicaDomain)).toBe('shut off');
    // The original goes on from the standby's last write.
    await waitFor(
      () => guest.consoleText().slice(consoleFrom).includes('FIRST-WRITE'),
      120_000,
      'the original to write',
    );
    expect(guest.consoleText().slice(consoleFrom)).toContain(`RESUME ${standbyCounter}`);

    // Once more: nothing to fail back, said in one line, and not recorded as a failed run of the plan.
    const again = await sendenseRun(['failback', plan, '--db', ws.db]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr.trim()).toBe(
      'sendense-run: plan failback-replica is not failed over: there is nothing to fail back (sendense-run replicas shows its replica)',
    );
    const back = await sendenseRun(['status', plan, '--db', ws.db]);
    expect(back.exitCode, `${back.stdout}\n${back.stderr}`).toBe(0);
    expect(back.stdout).not.toContain('failed over');
    expect(back.stdout).toMatch(/failback-replica .* succeeded /);

    // The syncs go on from the failover's point; the point the standby wrote into has its digests anew.
    const next = await runSync();
    const replicas = JSON.parse(
      (await sendenseRun(['replicas', '--json', '--plan', 'failback-replica', '--db', ws.db])).stdout.trim(),
    ) as { failover: unknown; points: { id: string; type: string; parentId: string | null }[] };
    expect(replicas.failover).toBeNull();
    expect(replicas.points[0]).toMatchObject({ id: next, type: 'incremental', parentId: points[1] });
    const verified = await sendenseRun(['replicas', '--verify', plan, '--db', ws.db]);
    expect(verified.exitCode, `${verified.stdout}\n${verified.stderr}`).toBe(0);
    expect(verified.stdout).not.toMatch(/DAMAGED|no digests/);
    expect(verified.stdout).toMatch(new RegExp(`point ${points[1]} disk 2000: good`));
    expect(readCounter(originalImage(2000), LOST_AT)).toBe(0);
    // No failback bitmap is left in the replica's images.
    for (const key of [2000, 2001])
      expect(execFileSync('qemu-img', ['info', '-U', replicaPath(key)], { encoding: 'utf8' })).not.toContain(
        'sendense-failback',
      );
  }, 900_000);

  it('again, uninterrupted: only the changes are copied', async () => {
    await failOverAndWrite([]);
    virsh('destroy', replicaDomain);
    const standbyCounter = readCounter(replicaPath(2000), 0);
    const consoleFrom = guest.consoleText().length;
    const done = await failBackNow();
    expect(done).toMatchObject({ copy: 'incremental', whyFull: null });
    // The counters' blocks and a little more, not the disks' 192 MiB.
    expect(done.bytesWritten).toBeGreaterThan(0);
    expect(done.bytesWritten).toBeLessThan(4 * MiB);
    await waitFor(
      () => guest.consoleText().slice(consoleFrom).includes('FIRST-WRITE'),
      120_000,
      'the original to write',
    );
    expect(guest.consoleText().slice(consoleFrom)).toContain(`RESUME ${standbyCounter}`);
    points.push(await runSync());
  }, 600_000);

  it('from an older point: every block is copied, the overlays go, the syncs go on', async () => {
    const older = points[points.length - 2]!;
    const overlays = [2000, 2001].map((key) => path.join(replicaDir, `bvm-${key}.failover-${older}.qcow2`));
    await failOverAndWrite(['--point', older]);
    virsh('destroy', replicaDomain);
    const killed = await killedFailback('failback.copied');
    expect(killed).toContain(
      `the standby started from an older point (on ${overlays[0]}): every block of the standby's disks is copied`,
    );
    // Byte for byte: the original's disks are the standby's overlays (on the older point).
    for (const [i, key] of [2000, 2001].entries())
      expect(sameContent(originalImage(key), overlays[i]!), `disk ${key}`).toBe(true);
    expect(await failBackNow()).toMatchObject({ copy: 'none' });
    for (const overlay of overlays) expect(exists(overlay), overlay).toBe(false);
    expect(Object.values(domainImages(replicaDomain))).toEqual([replicaPath(2000), replicaPath(2001)]);
    await runSync();
    const verified = await sendenseRun(['replicas', '--verify', plan, '--db', ws.db]);
    expect(verified.exitCode, `${verified.stdout}\n${verified.stderr}`).toBe(0);
  }, 600_000);
});

// The original lost, a failover (with `args`), the standby booted and writing.
async function failOverAndWrite(args: readonly string[]): Promise<void> {
  const from = guest.rounds();
  await waitFor(() => guest.rounds() >= from + 2, 60_000, 'the original to write');
  guest.destroy();
  const consoleFrom = guest.consoleText().length;
  const failover = await sendenseRun(['failover', plan, ...args, '--db', ws.db]);
  expect(failover.exitCode, `${failover.stdout}\n${failover.stderr}`).toBe(0);
  await waitFor(
    () =>
      (
        guest
          .consoleText()
          .slice(consoleFrom)
          .match(/^W \d+ /gm) ?? []
      ).length >= 3,
    120_000,
    'the standby to write',
  );
}

async function failBackNow(): Promise<{ copy: string; whyFull: string | null; bytesWritten: number }> {
  const result = await sendenseRun(['failback', plan, '--json', '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  expect(tableRows(ws.db, 'replica_failovers')).toEqual([]);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as {
    copy: string;
    whyFull: string | null;
    bytesWritten: number;
  };
}
