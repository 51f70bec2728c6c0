// A drill of a replica's point (docs/drills.md#a-replicas-point) with real libvirt and the busybox
// guest: the guest is replicated while it runs, and a drill naming the replicate plan boots the
// replica's newest point on the replica node (this host), isolated, on overlays of its own over
// the point's layers: its boot and console heartbeat pass, its files are found, the drill is
// recorded with the replica's point, nothing of it is left, the replica's files are unchanged to
// the byte, and a sync after it goes on. Syncs during a drill go on too, their folds leaving the
// drilled point alone until it ends; a drill killed with kill -9 is ended by doctor. A drill naming
// a replicate plan with no point is one clear error that starts nothing.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { killAtEnv } from '../../src/crash-points.js';
import { SqliteDatabase } from '../../src/store/sqlite-driver.js';
import { startGuest, virshResult, waitFor, type TestGuest } from '../support/libvirt-guest.js';
import { tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { NotedProcesses } from '../support/processes.js';
import { parseEvents, sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { processesHolding, removeDomain, repositoryDigests } from '../libvirt/recover-support.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('drill-replica-', { per: 'file' });
const started = new NotedProcesses();
let guest: TestGuest;
let replicaDir: string;
let scratch: string;
let replicatePlan: string;

interface DrillRow {
  run_id: string;
  repository: string;
  backup_id: string;
  outcome: string;
  checks: string;
  heartbeat_seconds: number | null;
  console_tail: string | null;
}

function drillRows(): DrillRow[] {
  const db = new SqliteDatabase(ws.db, { readonly: true });
  try {
    return db.prepare('SELECT * FROM drills').all() as DrillRow[];
  } finally {
    db.close();
  }
}

function drillPlan(name: string, replica: string, checks: readonly object[]): string {
  const file = path.join(ws.dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      version: 1,
      kind: 'drill',
      name,
      vm: { name: 'rvm' },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
      drill: { replica, scratch, checks },
    }),
  );
  return file;
}

// The drills' domains on this host: those named after the VM's drills.
function drillDomains(): string[] {
  return virshResult('list', '--all', '--name')
    .stdout.split('\n')
    .map((line) => line.trim())
    .filter((name) => name.startsWith('rvm-drill-'));
}

const completePoints = () =>
  (tableRows(ws.db, 'replica_points') as { id: string; status: string; seq: number }[])
    .filter((row) => row.status === 'complete')
    .sort((a, b) => Number(a.seq) - Number(b.seq))
    .map((row) => row.id);

// One sync after the guest wrote; its events.
async function sync(): Promise<ReturnType<typeof parseEvents>> {
  const from = guest.rounds();
  await waitFor(() => guest.rounds() >= from + 2, 60_000, 'the guest to write');
  const result = await sendenseRun([replicatePlan, '--json', '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return parseEvents(result.stdout);
}

beforeAll(async () => {
  guest = await startGuest({ name: 'drill-replica', fsDisk: true });
  replicaDir = path.join(guest.dir, 'replica');
  scratch = path.join(guest.dir, 'scratch');
  mkdirSync(replicaDir, { mode: 0o755 });
  mkdirSync(scratch, { mode: 0o755 });
  replicatePlan = path.join(ws.dir, 'replicate.yaml');
  writeFileSync(
    replicatePlan,
    stringify({
      version: 1,
      kind: 'replicate',
      name: 'rvm-standby',
      vm: {
        name: 'rvm',
        source: { type: 'libvirt', domain: guest.name, quiesce: 'require', scratch },
      },
      replica: { path: path.join(replicaDir, 'rvm-{key}.qcow2'), points: 2 },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
    }),
  );
}, 400_000);

afterAll(async () => {
  started.killAll();
  if (drillDomains().length > 0) await sendenseRun(['doctor', '--db', ws.db]);
  for (const domain of drillDomains()) virshResult('destroy', domain);
  // The replica domain each sync defines (replica.domain: rvm-replica), never started.
  removeDomain('rvm-replica');
  guest?.remove();
});

describe("a drill of a replica's point", () => {
  it('is one clear error, starting nothing, while the replicate plan has no point', async () => {
    const plan = drillPlan('drill-nothing', 'rvm-standby', [{ boot: {} }]);
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, result.stdout).toBe(1);
    const output = `${result.stdout}\n${result.stderr}`;
    expect(output).toContain(
      'drill.replica: no replicate plan rvm-standby has a complete replica point in this state database',
    );
    expect(output).not.toMatch(/^\s+at /m);
    expect(drillDomains()).toEqual([]);
    expect(readdirSync(scratch)).toEqual([]);
    expect(drillRows()).toEqual([]);
  }, 120_000);

  it("boots the replica's newest point on the replica node, proves it, and leaves the replica as it was", async () => {
    await sync();
    await sync();
    const points = completePoints();
    const newest = points.at(-1)!;
    const before = repositoryDigests(replicaDir);
    const plan = drillPlan('drill-standby', 'rvm-standby', [
      { boot: { timeout: 120 } },
      { heartbeat: { console: '^FIRST-WRITE', timeout: 300 } },
      { screenshot: {} },
      { files: { exists: ['/log', 'disk:/lost+found'] } },
    ]);
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);

    const [row] = drillRows();
    expect(row).toMatchObject({ repository: 'replica:rvm-standby', backup_id: newest, outcome: 'passed' });
    const checks = JSON.parse(row!.checks) as { check: string; status: string }[];
    expect(checks.map((check) => [check.check, check.status])).toEqual([
      ['boot', 'passed'],
      ['heartbeat', 'passed'],
      ['screenshot', 'passed'],
      ['files', 'passed'],
    ]);
    expect(row!.heartbeat_seconds).not.toBeNull();
    // The drill's guest booted from the replica's point: it resumed the point's counter.
    expect(row!.console_tail).toMatch(/RESUME \d+/);

    // Nothing of the drill is left; the replica's files are the same bytes, and nothing holds them.
    expect(drillDomains()).toEqual([]);
    expect(readdirSync(scratch)).toEqual([]);
    expect(tableRows(ws.db, 'node_resources')).toEqual([]);
    expect(processesHolding(replicaDir)).toEqual([]);
    expect(repositoryDigests(replicaDir)).toEqual(before);

    // The replica goes on: a sync after the drill installs a new point and folds back to two.
    await sync();
    const after = completePoints();
    expect(after).toHaveLength(2);
    expect(after).toContain(newest);
    expect(after.at(-1)).not.toBe(newest);
  }, 900_000);

  it('lets syncs go on while it runs, their folds leaving the drilled point alone until it ends', async () => {
    const [, drilled] = completePoints().slice(-2);
    // A heartbeat that never comes keeps the drill running until it is stopped.
    const plan = drillPlan('drill-during-syncs', 'rvm-standby', [
      { boot: { timeout: 120 } },
      { heartbeat: { console: '^NEVER-PRINTED', timeout: 900 } },
    ]);
    const drill = startSendenseRun([plan, '--db', ws.db]);
    started.add(drill.pid);
    await drill.waitForEvent((event) => event.type === 'step-done' && event.step === 'start-domain');
    const [domain] = drillDomains();
    const during = await sync();
    // Three points now: the oldest is under the drilled one, so it is not folded, and nothing failed.
    expect(
      during.filter((event) => event.type === 'warning' && event.step === 'fold-points').map((event) => event.message),
    ).toEqual([
      `the drill ${domain} reads point ${drilled}: it and the points under it are not folded until the drill ends`,
    ]);
    expect(completePoints()).toHaveLength(3);
    expect(completePoints()).toContain(drilled);
    expect(virshResult('domstate', domain!).stdout.trim()).toBe('running');

    process.kill(drill.pid, 'SIGINT');
    const ended = await drill.exited;
    expect(ended.exitCode, `${ended.stdout}\n${ended.stderr}`).not.toBe(0);
    expect(drillDomains()).toEqual([]);
    expect(readdirSync(scratch)).toEqual([]);
    expect(tableRows(ws.db, 'node_resources')).toEqual([]);
    // The first sync after the drill folds back to replica.points, with no warning.
    const after = await sync();
    expect(after.filter((event) => event.type === 'warning')).toEqual([]);
    expect(completePoints()).toHaveLength(2);
  }, 900_000);

  it('killed with kill -9 once its domain runs: doctor destroys it and removes its directory; the replica is unchanged', async () => {
    const before = repositoryDigests(replicaDir);
    const plan = drillPlan('drill-killed', 'rvm-standby', [{ boot: {} }]);
    const killed = await sendenseRun([plan, '--db', ws.db], killAtEnv('drill.domain-started'));
    expect(killed.exitCode, killed.stdout).not.toBe(0);
    expect(drillDomains()).toHaveLength(1);
    expect(readdirSync(scratch)).toHaveLength(1);

    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(doctor.stdout).toMatch(/drill domain rvm-drill-/);
    expect(drillDomains()).toEqual([]);
    expect(readdirSync(scratch)).toEqual([]);
    expect(tableRows(ws.db, 'node_resources')).toEqual([]);
    expect(processesHolding(replicaDir)).toEqual([]);
    expect(repositoryDigests(replicaDir)).toEqual(before);
    // The point is no longer held: the next sync folds as usual, without a warning.
    const after = await sync();
    expect(after.filter((event) => event.type === 'warning')).toEqual([]);
    expect(completePoints()).toHaveLength(2);
  }, 600_000);
});
