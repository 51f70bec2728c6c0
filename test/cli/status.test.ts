// `sendense-run status FILE|DIR...`: one line per plan with its next run, last run, newest point,
// chain and space; --json one object per plan; exit 1 while a plan's last run failed.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { formatBytes } from '../../src/format/bytes.js';
import type { PlanStatus } from '../../src/core/plan-status.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const ws = useRunWorkspace('cli-status-');
const ports = portRangeForTestFile();

function plan(dir: string, name: string, vm: string, disk: string, extra: Record<string, unknown> = {}): string {
  const file = path.join(dir, `${name}.yaml`);
  const source = { type: 'qemu', disks: [{ key: 2000, path: disk, format: 'qcow2' }] };
  writeFileSync(
    file,
    stringify({
      version: 1,
      kind: 'incremental',
      name,
      vm: { name: vm, source },
      repository: { path: ws.repository },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
      ...extra,
    }),
  );
  return file;
}

// The hour and minute of an instant in a timezone, e.g. "02:00".
function clockIn(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hour12: false }).format(
    new Date(iso),
  );
}

describe('status', () => {
  it("shows a scheduled plan's next run in its timezone, its points, chain and space, and a failed plan's error (exit 1)", async () => {
    const plans = path.join(ws.dir, 'plans');
    mkdirSync(plans);
    const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 8 * 1024 * 1024);
    const nightly = plan(plans, 'nightly', 'web', disk, { schedule: '30 2 * * *', timezone: 'Asia/Kolkata' });
    const broken = plan(plans, 'broken', 'db', path.join(ws.dir, 'gone.qcow2'));
    // Another VM reads another image: one image under two VM names is refused (validate, status).
    plan(plans, 'spare', 'mail', createDisk(path.join(ws.dir, 'mail0.qcow2'), 8 * 1024 * 1024));

    // No state database yet: every plan has never run; nothing is created.
    const before = await sendenseRun(['status', plans, '--db', ws.db]);
    expect(before.exitCode, before.stderr).toBe(0);
    expect(before.stdout).toMatch(
      /^nightly +web +incremental +30 2 \* \* \* +\d{4}-\d\d-\d\d \d\d:\d\d +never +- +- +-$/m,
    );

    for (const pattern of [0x21, 0x22]) {
      writeDisk(disk, [`write -P ${pattern} 0 1M`]);
      expect((await sendenseRun([nightly, '--db', ws.db])).exitCode).toBe(0);
    }
    expect((await sendenseRun([broken, '--db', ws.db])).exitCode).toBe(1);

    const json = await sendenseRun(['status', plans, '--db', ws.db, '--json']);
    expect(json.exitCode, json.stderr).toBe(1);
    const statuses = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as PlanStatus);
    expect(statuses.map((status) => status.plan).sort()).toEqual(['broken', 'nightly', 'spare']);
    const [good, bad, spare] = ['nightly', 'broken', 'spare'].map((name) =>
      statuses.find((status) => status.plan === name)!,
    );

    const backups = (await listBackups(ws.db, 'web')).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
    expect(good).toMatchObject({
      file: nightly,
      vm: 'web',
      kind: 'incremental',
      schedule: '30 2 * * *',
      timezone: 'Asia/Kolkata',
      running: false,
      chainLength: 2,
      repository: ws.repository,
    });
    expect(good.lastRun).toMatchObject({ status: 'succeeded', error: null });
    expect(good.newestPoint).toMatchObject({ id: backups[1].id, takenAt: backups[1].startedAt });
    expect(good.newestPoint!.ageSeconds).toBeLessThan(600);
    expect(good.replicaLagSeconds).toBeNull();
    const next = Date.parse(good.nextRun!);
    expect(next).toBeGreaterThan(Date.now());
    expect(next - Date.now()).toBeLessThanOrEqual(24 * 3600 * 1000);
    expect(clockIn(good.nextRun!, 'Asia/Kolkata')).toBe('02:30');
    const du = Number(
      execFileSync('du', ['-s', '-B1', path.join(ws.repository, 'web')], { encoding: 'utf8' }).split('\t')[0],
    );
    expect(good.repositoryBytes).toBe(du);

    expect(bad).toMatchObject({
      vm: 'db',
      schedule: null,
      nextRun: null,
      newestPoint: null,
      chainLength: 0,
      repositoryBytes: null,
    });
    expect(bad.lastRun!.status).toBe('failed');
    expect(bad.lastRun!.error).toMatch(/gone\.qcow2/);
    expect(spare).toMatchObject({ lastRun: null, newestPoint: null, nextRun: null });

    const text = await sendenseRun(['status', plans, '--db', ws.db]);
    expect(text.exitCode).toBe(1);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(/^PLAN +VM +KIND +SCHEDULE +NEXT RUN +LAST RUN +NEWEST +CHAIN +SIZE$/);
    // The table fits 120 columns; the failures below it are one line each, however long.
    for (const line of lines.slice(0, lines.indexOf(''))) expect(line.length, line).toBeLessThanOrEqual(120);
    expect(text.stdout).toMatch(
      new RegExp(
        `^nightly +web +incremental +30 2 \\* \\* \\* +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d +succeeded \\d+:\\d\\d ago +\\d+:\\d\\d ago +2 +${formatBytes(du)}$`,
        'm',
      ),
    );
    expect(text.stdout).toMatch(/^broken +db +incremental +- +- +failed \d+:\d\d ago +- +- +-$/m);
    expect(text.stdout).toMatch(/^broken: run run-\S+ failed at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d: .*gone\.qcow2/m);

    // Only the plan that succeeded: exit 0.
    expect((await sendenseRun(['status', nightly, '--db', ws.db])).exitCode).toBe(0);
  });

  it("a replicate plan shows its replica's lag: the age of its newest point, no repository", async () => {
    const source = createDisk(path.join(ws.dir, 'source.qcow2'), 8 * 1024 * 1024);
    writeDisk(source, ['write -P 0x5c 0 1M']);
    const replicaDir = path.join(ws.dir, 'replica');
    mkdirSync(replicaDir);
    const file = path.join(ws.dir, 'replicate.yaml');
    const vm = { name: 'rvm', source: { type: 'qemu', disks: [{ key: 2000, path: source, format: 'qcow2' }] } };
    const replica = { path: path.join(replicaDir, 'rvm.qcow2'), points: 2, scratch: ws.dir };
    writeFileSync(
      file,
      stringify({
        version: 1,
        kind: 'replicate',
        name: 'standby',
        vm,
        replica,
        nbd: { ports: `${ports[0]}-${ports[1]}` },
      }),
    );
    const sync = await sendenseRun([file, '--db', ws.db]);
    expect(sync.exitCode, sync.stderr).toBe(0);

    const json = await sendenseRun(['status', file, '--db', ws.db, '--json']);
    expect(json.exitCode, json.stderr).toBe(0);
    const status = JSON.parse(json.stdout) as PlanStatus;
    expect(status).toMatchObject({
      plan: 'standby',
      kind: 'replicate',
      chainLength: null,
      repository: null,
      repositoryBytes: null,
    });
    expect(status.lastRun!.status).toBe('succeeded');
    expect(status.replicaLagSeconds).toBeGreaterThanOrEqual(0);
    expect(status.replicaLagSeconds).toBeLessThan(600);
    expect(status.replicaLagSeconds).toBe(status.newestPoint!.ageSeconds);
    const text = await sendenseRun(['status', file, '--db', ws.db]);
    expect(text.stdout).toMatch(/^standby +rvm +replicate +- +- +succeeded \d+:\d\d ago +lag \d+:\d\d +- +-$/m);
  });

  it('an invalid plan is said on stderr and the others still shown (exit 2); no path without a database is a usage error', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 8 * 1024 * 1024);
    plan(ws.dir, 'fine', 'web', disk);
    writeFileSync(path.join(ws.dir, 'bad.yaml'), stringify({ version: 1, kind: 'incremental', name: 'bad' }));
    const result = await sendenseRun(['status', ws.dir, '--db', ws.db]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/bad\.yaml:\d+:\d+: .*\(plan skipped\)/);
    expect(result.stdout).toMatch(/^fine +web +incremental +- +- +never/m);
    // No paths and no run recorded: nothing to show.
    const none = await sendenseRun(['status', '--db', ws.db]);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(
      /status needs plan FILEs or DIRs: no run in \S+ was started from a plan file that is still there/,
    );
  });

  it("without paths: the plan files the database's runs were started from", async () => {
    const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 8 * 1024 * 1024);
    const ran = plan(ws.dir, 'ran', 'web', disk);
    plan(ws.dir, 'idle', 'mail', createDisk(path.join(ws.dir, 'mail1.qcow2'), 8 * 1024 * 1024));
    expect((await sendenseRun([ran, '--db', ws.db])).exitCode).toBe(0);
    const result = await sendenseRun(['status', '--db', ws.db, '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(
      result.stdout
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as PlanStatus).plan),
    ).toEqual(['ran']);
  });
});
