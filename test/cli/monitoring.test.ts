// For monitoring: Prometheus textfile metrics after each run (--metrics-file or the plan's
// metricsFile), and `doctor --dry-run` exiting 1 when a crashed run left something to clean.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startNbdkit, useNbdServers } from '../support/qemu-nbd-server.js';
import { waitForProcessGone } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const ws = useRunWorkspace('cli-monitoring-');
const servers = useNbdServers();
const ports = portRangeForTestFile();

function planFile(disk: string, extra: Record<string, unknown> = {}): string {
  const file = path.join(ws.dir, 'plan.yaml');
  const vm = { name: 'mon-vm', source: { type: 'qemu', disks: [{ key: 2000, path: disk, format: 'qcow2' }] } };
  writeFileSync(
    file,
    stringify({
      version: 1,
      kind: 'incremental',
      name: 'mon',
      vm,
      repository: { path: ws.repository },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
      ...extra,
    }),
  );
  return file;
}

// The samples of a textfile: "name{labels}" -> value; HELP and TYPE given for each metric.
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.trimEnd().split('\n')) {
    const type = /^# TYPE (\w+) gauge$/.exec(line);
    if (type) typed.add(type[1]);
    if (line.startsWith('#')) continue;
    const sample = /^(\w+)(\{[^}]*\}) (\S+)$/.exec(line);
    expect(sample, line).not.toBeNull();
    expect(typed.has(sample![1]), `${sample![1]} has a TYPE line`).toBe(true);
    map.set(`${sample![1]}${sample![2]}`, Number(sample![3]));
  }
  return map;
}

// promtool (Debian's prometheus package, scripts/setup.sh) lints a textfile as Prometheus would.
const promtool = (() => {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn(
      'promtool not found (install the prometheus package, scripts/setup.sh): the promtool check is skipped',
    );
    return false;
  }
})();

describe('monitoring', () => {
  it('--metrics-file writes last run, last success, duration, bytes and status per plan and VM; a failure keeps the last success', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 8 * 1024 * 1024);
    writeDisk(disk, ['write -P 0x71 0 1M']);
    const dir = path.join(ws.dir, 'textfile');
    const template = path.join(dir, 'sendense-{plan}.prom');
    const ok = await sendenseRun([planFile(disk), '--db', ws.db, '--metrics-file', template]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const file = path.join(dir, 'sendense-mon.prom');
    const first = samples(readFileSync(file, 'utf8'));
    const labels = '{plan="mon",vm="mon-vm"}';
    expect(first.get(`sendense_last_run_bytes${labels}`)).toBe(1024 * 1024);
    expect(first.get('sendense_last_run_status{plan="mon",vm="mon-vm",status="succeeded"}')).toBe(1);
    expect(first.get('sendense_last_run_status{plan="mon",vm="mon-vm",status="failed"}')).toBe(0);
    const success = first.get(`sendense_last_success_timestamp_seconds${labels}`)!;
    expect(success).toBe(first.get(`sendense_last_run_timestamp_seconds${labels}`));
    expect(Math.abs(success - Date.now() / 1000)).toBeLessThan(600);
    expect(first.get(`sendense_last_run_duration_seconds${labels}`)).toBeGreaterThan(0);
    expect(statSync(file).mode & 0o777).toBe(0o644);

    // The plan's own metricsFile, and a failed run (the disk is gone).
    const failed = await sendenseRun([
      planFile(path.join(ws.dir, 'gone.qcow2'), { metricsFile: template }),
      '--db',
      ws.db,
    ]);
    expect(failed.exitCode).toBe(1);
    const second = samples(readFileSync(file, 'utf8'));
    expect(second.get('sendense_last_run_status{plan="mon",vm="mon-vm",status="failed"}')).toBe(1);
    expect(second.get('sendense_last_run_status{plan="mon",vm="mon-vm",status="succeeded"}')).toBe(0);
    expect(second.get(`sendense_last_success_timestamp_seconds${labels}`)).toBe(success);
    expect(second.get(`sendense_last_run_timestamp_seconds${labels}`)).toBeGreaterThan(success);
    // Renamed into place: nothing else in the collector's directory.
    expect(readdirSync(dir)).toEqual(['sendense-mon.prom']);
  });

  it.runIf(promtool)(
    "the repository metrics count the VM's points, their times and space, and pass promtool check metrics",
    async () => {
      const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 8 * 1024 * 1024);
      const template = path.join(ws.dir, 'textfile', 'sendense-{plan}.prom');
      for (const pattern of [0x11, 0x22, 0x33]) {
        writeDisk(disk, [`write -P ${pattern} 0 1M`]);
        const run = await sendenseRun([planFile(disk, { metricsFile: template }), '--db', ws.db]);
        expect(run.exitCode, run.stderr).toBe(0);
      }
      const file = path.join(ws.dir, 'textfile', 'sendense-mon.prom');
      const text = readFileSync(file, 'utf8');
      execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });

      const backups = (await listBackups(ws.db, 'mon-vm')).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
      expect(backups.length).toBe(3);
      const metrics = samples(text);
      const labels = `{plan="mon",vm="mon-vm",repository="${ws.repository}"}`;
      expect(metrics.get(`sendense_repository_points${labels}`)).toBe(3);
      expect(metrics.get(`sendense_repository_chain_points${labels}`)).toBe(3);
      expect(metrics.get(`sendense_repository_damaged_points${labels}`)).toBe(0);
      expect(metrics.get(`sendense_repository_oldest_point_timestamp_seconds${labels}`)).toBe(
        Date.parse(backups[0].startedAt) / 1000,
      );
      expect(metrics.get(`sendense_repository_newest_point_timestamp_seconds${labels}`)).toBe(
        Date.parse(backups[2].startedAt) / 1000,
      );
      expect(metrics.get(`sendense_repository_last_verify_timestamp_seconds${labels}`)).toBe(0);
      expect(metrics.has(`sendense_repository_last_verify_success${labels}`)).toBe(false);
      const du = Number(
        execFileSync('du', ['-s', '-B1', path.join(ws.repository, 'mon-vm')], { encoding: 'utf8' }).split('\t')[0],
      );
      expect(metrics.get(`sendense_repository_bytes${labels}`)).toBe(du);

      // After a verify, the next run's file says when and that it was sound.
      expect((await sendenseRun(['verify', '--vm', 'mon-vm', '--db', ws.db])).exitCode).toBe(0);
      writeDisk(disk, ['write -P 0x44 0 1M']);
      expect((await sendenseRun([planFile(disk, { metricsFile: template }), '--db', ws.db])).exitCode).toBe(0);
      const after = readFileSync(file, 'utf8');
      execFileSync('promtool', ['check', 'metrics'], { input: after, encoding: 'utf8' });
      const verified = samples(after);
      expect(verified.get(`sendense_repository_points${labels}`)).toBe(4);
      expect(
        Math.abs(verified.get(`sendense_repository_last_verify_timestamp_seconds${labels}`)! - Date.now() / 1000),
      ).toBeLessThan(600);
      expect(verified.get(`sendense_repository_last_verify_success${labels}`)).toBe(1);
    },
  );

  it('a metricsFile that is not absolute is a plan error at its line', async () => {
    const plan = planFile(path.join(ws.dir, 'disk0.qcow2'), { metricsFile: 'metrics.prom' });
    const result = await sendenseRun(['validate', plan]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toMatch(
      /plan\.yaml:\d+:\d+: metricsFile: must be an absolute path or start with ~\/ \(got 'metrics\.prom'\)/,
    );
  });

  it('doctor --dry-run exits 1 while a killed run left something to clean, 0 once doctor cleaned it', async () => {
    const server = await startNbdkit(
      ['--filter=rate', 'data', 'data=(0x5a)*33554432', 'size=32M', 'rate=16M'],
      path.join(ws.dir, 'kit.sock'),
    );
    servers.push(server);
    const file = path.join(ws.dir, 'slow.yaml');
    writeFileSync(
      file,
      stringify({
        version: 1,
        kind: 'backup',
        name: 'slow',
        vm: { name: 'slow-vm', source: { type: 'nbd', disks: [{ key: 2000, url: server.url }] } },
        repository: { path: ws.repository },
        nbd: { ports: `${ports[0]}-${ports[1]}` },
      }),
    );
    const clean = await sendenseRun(['doctor', '--dry-run', '--db', ws.db]);
    expect(clean.exitCode).toBe(0);

    const run = startSendenseRun([file, '--db', ws.db]);
    await run.waitForEvent((event) => event.type === 'progress');
    process.kill(run.pid, 'SIGKILL');
    await run.exited;
    expect(await waitForProcessGone(run.pid)).toBe(true);

    const dry = await sendenseRun(['doctor', '--dry-run', '--db', ws.db]);
    expect(dry.exitCode, dry.stdout).toBe(1);
    expect(dry.stdout).toMatch(/qemu-nbd pid \d+ of run \S+: would stop it/);
    expect(dry.stdout).toMatch(/\(dry run: nothing changed\)$/);
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, doctor.stdout).toBe(0);
    expect(await sendenseRun(['doctor', '--dry-run', '--db', ws.db])).toMatchObject({
      exitCode: 0,
      stdout: 'doctor: nothing left behind',
    });
  });
});
