// Recovery drills (docs/drills.md) with the real busybox guest and libvirt: the guest, with an ext4
// filesystem made by mkfs on its third disk, is backed up while it runs and keeps running. A
// drill of the point boots it isolated beside the original (no network, a console of its own),
// sees its console heartbeat, takes a screenshot, finds files in the point and checks its
// filesystem read-only, records it all, and leaves nothing behind; the original keeps writing,
// untouched. A point whose boot is broken (its kernel panics) fails at heartbeat with the
// guest's last console lines.

import path from 'node:path';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAtEnv } from '../../src/crash-points.js';
import { SqliteDatabase } from '../../src/store/sqlite-driver.js';
import { startGuest, virshResult, waitFor, type TestGuest } from '../support/libvirt-guest.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { writeLibvirtPlan } from './libvirt-plans.js';
import { processesHolding, repositoryDigests } from './recover-support.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-drill-', { per: 'file' });
let guest: TestGuest;
let backupPlan: string;
let scratch: string;

interface DrillRow {
  run_id: string;
  backup_id: string;
  outcome: string;
  checks: string;
  boot_seconds: number | null;
  heartbeat_seconds: number | null;
  screenshot_png: string | null;
  console_tail: string | null;
}

function drillRow(runId: string): DrillRow {
  const db = new SqliteDatabase(ws.db, { readonly: true });
  try {
    return db.prepare('SELECT * FROM drills WHERE run_id = ?').get(runId) as DrillRow;
  } finally {
    db.close();
  }
}

function nodeResources(): number {
  const db = new SqliteDatabase(ws.db, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM node_resources').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

async function backUp(): Promise<string> {
  const from = guest.rounds();
  await waitFor(() => guest.rounds() >= from + 2, 60_000, 'the guest to write');
  const result = await sendenseRun([backupPlan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return /backup (\S+)$/m.exec(result.stdout)![1]!;
}

function drillPlan(name: string, point: string, checks: readonly object[]): string {
  const file = path.join(ws.dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      version: 1,
      kind: 'drill',
      name,
      vm: { name: 'dvm' },
      repository: { path: ws.repository },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
      metricsFile: path.join(ws.dir, 'metrics-{plan}.prom'),
      drill: { point, scratch, isolation: { network: 'none' }, checks },
    }),
  );
  return file;
}

// The drill's domains on this host: those named after the VM's drills.
function drillDomains(): string[] {
  return virshResult('list', '--all', '--name')
    .stdout.split('\n')
    .map((line) => line.trim())
    .filter((name) => name.startsWith('dvm-drill-'));
}

beforeAll(async () => {
  guest = await startGuest({ name: 'drill', fsDisk: true });
  scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  // Frozen through the agent while its point is taken: the ext4 filesystem in the point is clean.
  backupPlan = writeLibvirtPlan(ws.dir, {
    name: 'drill-src',
    vm: 'dvm',
    domain: guest.name,
    repository: ws.repository,
    ports,
    scratch,
    quiesce: 'require',
  });
}, 400_000);

afterAll(() => {
  for (const domain of drillDomains()) virshResult('destroy', domain);
  guest?.remove();
});

describe('a recovery drill of a libvirt point', () => {
  it('boots the point isolated, sees its heartbeat, screenshots it, checks its files and filesystem, and leaves nothing', async () => {
    const point = await backUp();
    const digests = repositoryDigests(ws.repository);
    const consoleBefore = guest.consoleText();
    const roundsBefore = guest.rounds();
    const plan = drillPlan('drill-pass', 'latest', [
      { boot: { timeout: 120 } },
      { heartbeat: { console: '^FIRST-WRITE', timeout: 300 } },
      { screenshot: {} },
      // Through the guest agent: the guest mounted the point's ext4 filesystem.
      { command: { run: ['/bin/cat', '/proc/mounts'], expect: '/dev/vdc /mnt ext4' } },
      { files: { exists: ['/log', 'disk:/lost+found'] } },
      { fsck: {} },
    ]);
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    const history = await sendenseRun(['history', '--json', '--db', ws.db, '--plan', 'drill-pass']);
    const [run] = history.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; status: string; taken: string; backupId: string });
    expect(run).toMatchObject({ status: 'succeeded', taken: 'drill', backupId: point });

    const row = drillRow(run!.id);
    expect(row.outcome).toBe('passed');
    expect(row.backup_id).toBe(point);
    const checks = JSON.parse(row.checks) as { check: string; status: string; detail: string }[];
    expect(checks.map((check) => [check.check, check.status])).toEqual([
      ['boot', 'passed'],
      ['heartbeat', 'passed'],
      ['screenshot', 'passed'],
      ['command', 'passed'],
      ['files', 'passed'],
      ['fsck', 'passed'],
    ]);
    // The recovery time is measured: to running, then to the heartbeat.
    expect(row.boot_seconds).not.toBeNull();
    expect(row.heartbeat_seconds!).toBeGreaterThanOrEqual(row.boot_seconds!);
    expect(Buffer.from(row.screenshot_png!, 'base64').subarray(1, 4).toString()).toBe('PNG');
    // The drill's guest booted from the point: its console is its own, and it resumed the point's counter.
    expect(row.console_tail).toMatch(/RESUME \d+/);

    // Its metrics: when the drill passed, and the recovery time it measured.
    const metrics = readFileSync(path.join(ws.dir, 'metrics-drill-pass.prom'), 'utf8');
    const passedAt = /^sendense_drill_last_success_timestamp_seconds\{plan="drill-pass",vm="dvm"\} (\S+)$/m.exec(
      metrics,
    );
    expect(Number(passedAt?.[1])).toBeGreaterThan(0);
    expect(metrics).toContain(`sendense_drill_recovery_seconds{plan="drill-pass",vm="dvm"} ${row.heartbeat_seconds}\n`);

    // status: the VM's last proven bootable point.
    const status = await sendenseRun(['status', plan, '--db', ws.db]);
    expect(status.stdout).toContain(`VM dvm last proven bootable: backup ${point}`);

    // Nothing of the drill is left: no domain, no directory, no record for doctor, nothing serving the repository.
    expect(drillDomains()).toEqual([]);
    expect(readdirSync(scratch)).toEqual([]);
    expect(nodeResources()).toBe(0);
    expect(processesHolding(ws.repository)).toEqual([]);
    expect(repositoryDigests(ws.repository)).toEqual(digests);
    // The original ran on throughout, writing; its console saw nothing of the drill.
    expect(guest.running()).toBe(true);
    expect(guest.rounds()).toBeGreaterThan(roundsBefore);
    expect(guest.consoleText().startsWith(consoleBefore)).toBe(true);
    expect(guest.consoleText().slice(consoleBefore.length)).not.toContain('RESUME');
  }, 600_000);

  it("fails at heartbeat when the point's kernel panics, with the last lines of its console", async () => {
    const point = await backUp();
    // The guest boots the kernel and init its definition names: this point's names an init that
    // is not there, so its kernel panics (and, with panic=-1, reboots at once).
    const xmlFile = path.join(ws.repository, 'dvm', 'domain', `${point}.xml`);
    writeFileSync(xmlFile, readFileSync(xmlFile, 'utf8').replace('<cmdline>', '<cmdline>rdinit=/no-such-init '));
    const plan = drillPlan('drill-panic', point, [
      { boot: { timeout: 120 } },
      { heartbeat: { console: '^FIRST-WRITE', timeout: 300 } },
      { screenshot: {} },
      { fsck: {} },
    ]);
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, result.stdout).toBe(1);
    const output = `${result.stdout}\n${result.stderr}`;
    expect(output).toContain('drill check heartbeat failed');
    expect(output).toMatch(/Kernel panic - not syncing/);
    expect(output).toContain("the last 20 lines of the guest's console");
    const history = await sendenseRun(['history', '--json', '--db', ws.db, '--plan', 'drill-panic']);
    const run = JSON.parse(history.stdout.trim().split('\n')[0]!) as { id: string; status: string };
    expect(run.status).toBe('failed');
    const row = drillRow(run.id);
    expect(row.outcome).toBe('failed');
    const checks = JSON.parse(row.checks) as { check: string; status: string }[];
    expect(checks.map((check) => [check.check, check.status])).toEqual([
      ['boot', 'passed'],
      ['heartbeat', 'failed'],
      ['screenshot', 'skipped'],
      ['fsck', 'passed'],
    ]);
    expect(row.console_tail).toMatch(/Kernel panic/);
    // No drill of this plan passed: its metrics say so.
    const metrics = readFileSync(path.join(ws.dir, 'metrics-drill-panic.prom'), 'utf8');
    expect(metrics).toContain('sendense_drill_last_success_timestamp_seconds{plan="drill-panic",vm="dvm"} 0\n');
    expect(metrics).not.toContain('sendense_drill_recovery_seconds');

    // Cleaned up on the failure too; the original still runs.
    expect(drillDomains()).toEqual([]);
    expect(readdirSync(scratch)).toEqual([]);
    expect(nodeResources()).toBe(0);
    expect(guest.running()).toBe(true);
    // The last proven bootable point is still the one the first drill proved.
    const status = await sendenseRun(['status', plan, '--db', ws.db]);
    expect(status.stdout).toContain('last proven bootable: backup');
    expect(status.stdout).not.toContain(`last proven bootable: backup ${point}`);
  }, 600_000);

  for (const phase of ['dir-made', 'domain-started'] as const) {
    it(`killed with kill -9 at ${phase}: doctor destroys the drill's domain and removes its directory`, async () => {
      const plan = drillPlan(`drill-kill-${phase}`, 'latest', [
        { boot: {} },
        { heartbeat: { console: '^FIRST-WRITE' } },
      ]);
      const killed = await sendenseRun([plan, '--db', ws.db], killAtEnv(`drill.${phase}`));
      expect(killed.exitCode, killed.stdout).not.toBe(0);
      // Left by the kill: the directory, and the domain once it was started.
      expect(readdirSync(scratch)).toHaveLength(1);
      expect(drillDomains()).toHaveLength(phase === 'domain-started' ? 1 : 0);
      expect(nodeResources()).toBe(1);

      const doctor = await sendenseRun(['doctor', '--db', ws.db]);
      expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
      expect(doctor.stdout).toMatch(/drill domain dvm-drill-/);
      expect(drillDomains()).toEqual([]);
      expect(readdirSync(scratch)).toEqual([]);
      expect(nodeResources()).toBe(0);
      expect(processesHolding(ws.repository)).toEqual([]);
      expect(guest.running()).toBe(true);
      const again = await sendenseRun(['doctor', '--db', ws.db]);
      expect(again.stdout).not.toContain('drill domain');
    }, 600_000);
  }
});
