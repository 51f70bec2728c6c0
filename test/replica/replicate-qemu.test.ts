// Replication of qemu images to this host (no libvirt): every sync leaves replica.path equal to
// the source as it was, `points` are kept by folding, the change tracking is the plan's own, and a
// sync killed between two disks' installs is finished by doctor so both disks show one point.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { SqliteDatabase as Database } from '../../src/store/sqlite-driver.js';
import { imagesEqual } from '../support/images.js';
import { tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { parseEvents, sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { bitmapNames, portRangeForTestFile } from '../support/vm-disks.js';
import { killAtEnv } from '../../src/crash-points.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('replicate-qemu-');

function setUp(points = 2, rate?: string) {
  const disks = [2000, 2001].map((key) => path.join(ws.dir, `source-${key}.qcow2`));
  for (const disk of disks) execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
  const replicaDir = path.join(ws.dir, 'replica');
  mkdirSync(replicaDir);
  const plan = path.join(ws.dir, 'replicate.yaml');
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'replicate',
      name: 'qemu-replica',
      vm: {
        name: 'qvm',
        source: {
          type: 'qemu',
          disks: disks.map((disk, index) => ({ key: 2000 + index, path: disk, format: 'qcow2' })),
        },
      },
      // The sync's socket directories in the test's own directory, not /var/tmp.
      replica: { path: path.join(replicaDir, 'qvm-{key}.qcow2'), points, scratch: ws.dir },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
      ...(rate && { rate }),
    }),
  );
  const write = (round: number) => {
    for (const disk of disks)
      execFileSync('qemu-io', ['-c', `write -P ${round} ${round}M 1M`, '-c', `write -z ${round + 20}M 64k`, disk], {
        stdio: 'ignore',
      });
  };
  const replica = (key: number) => path.join(replicaDir, `qvm-${key}.qcow2`);
  return { disks, plan, replicaDir, write, replica };
}

async function sync(plan: string): Promise<string> {
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

describe('replication of qemu images', () => {
  it('each sync makes replica.path equal to the source; two points are kept, each layer backed by the one before', async () => {
    const { disks, plan, replicaDir, write, replica } = setUp(2);
    for (let round = 1; round <= 4; round++) {
      write(round);
      const out = await sync(plan);
      expect(out).toMatch(round === 1 ? /full, new chain/ : /changes since point/);
      for (const [index, disk] of disks.entries()) expect(imagesEqual(disk, replica(2000 + index))).toBe(true);
    }
    // replica.path and the two kept points' layers per disk, nothing else.
    expect(
      readdirSync(replicaDir).filter((file) => file.startsWith('qvm-2000') && file.endsWith('.qcow2')),
    ).toHaveLength(3);
    const chain = JSON.parse(
      execFileSync('qemu-img', ['info', '--backing-chain', '--output=json', replica(2000)], { encoding: 'utf8' }),
    ) as unknown[];
    expect(chain).toHaveLength(2);
    // Only the replica's own bitmap is on the source, named for its r- chain.
    for (const disk of disks) expect(bitmapNames(disk)).toEqual([expect.stringMatching(/^sendense-r-/)]);
  }, 120_000);

  it('a sync with rate: 8MiB/s holds to it, says so, and the replica is still exact', async () => {
    const { disks, plan, replica } = setUp(2, '8MiB/s');
    // 24 MiB of data on each disk: 48 MiB over the limit, about 6 s.
    for (const disk of disks) execFileSync('qemu-io', ['-c', 'write -P 0x5a 0 24M', disk], { stdio: 'ignore' });
    const result = await sendenseRun([plan, '--db', ws.db, '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const events = parseEvents(result.stdout) as (ReturnType<typeof parseEvents>[number] & { time: string })[];
    expect(
      events.filter((event) => event.type === 'info' && event.step === 'transfer').map((event) => event.message),
    ).toEqual([expect.stringMatching(/^node transfer \(pid \d+\): limited to 8 MiB\/s \(plan rate\)$/)]);
    const at = (type: string) =>
      Date.parse(events.find((event) => event.type === type && event.step === 'transfer')!.time);
    const rate = (48 * MiB) / ((at('step-done') - at('step-start')) / 1000);
    console.info(`replicate: ${(rate / MiB).toFixed(2)} MiB/s (limit 8 MiB/s)`);
    // A limit, not a promise: never above it.
    expect(rate / (8 * MiB)).toBeLessThan(1.05);
    for (const [index, disk] of disks.entries()) expect(imagesEqual(disk, replica(2000 + index))).toBe(true);
  }, 120_000);

  it('dry run says what a sync would do and changes nothing', async () => {
    const { plan, replicaDir } = setUp();
    const result = await sendenseRun([plan, '--db', ws.db, '--dry-run']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/full into a new chain/);
    expect(readdirSync(replicaDir)).toEqual([]);
  });

  it('killed between the two disks\u2019 installs: doctor finishes the point, both disks show it', async () => {
    const { disks, plan, write, replica } = setUp(3);
    write(1);
    await sync(plan);
    write(2);
    const cli = startSendenseRun([plan, '--db', ws.db], killAtEnv('replica.sync-half-installed'));
    expect((await cli.exited).signal).toBe('SIGKILL');
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, doctor.stdout).toBe(0);
    expect(doctor.stdout).toMatch(/written whole but not installed/);
    for (const [index, disk] of disks.entries()) expect(imagesEqual(disk, replica(2000 + index))).toBe(true);
    write(3);
    expect(await sync(plan)).toMatch(/changes since point/);
    for (const [index, disk] of disks.entries()) expect(imagesEqual(disk, replica(2000 + index))).toBe(true);
  }, 120_000);

  it('killed with every disk written but not installed: the next sync removes it and the replica stays at its point', async () => {
    const { disks, plan, write, replica, replicaDir } = setUp(3);
    write(1);
    await sync(plan);
    const before = disks.map((disk) => {
      execFileSync('qemu-img', ['convert', '-O', 'raw', disk, `${disk}.raw`]);
      return `${disk}.raw`;
    });
    write(2);
    const cli = startSendenseRun([plan, '--db', ws.db], killAtEnv('replica.sync-written'));
    expect((await cli.exited).signal).toBe('SIGKILL');
    for (const [index, raw] of before.entries()) expect(imagesEqual(raw, replica(2000 + index))).toBe(true);
    const next = await sync(plan);
    expect(next).toMatch(/never completed: its layers are removed/);
    for (const [index, disk] of disks.entries()) expect(imagesEqual(disk, replica(2000 + index))).toBe(true);
    expect(
      readdirSync(replicaDir).filter((file) => file.startsWith('qvm-2000') && file.endsWith('.qcow2')),
    ).toHaveLength(3);
    // The killed sync's manifests went with its layers: one per kept point.
    expect(
      readdirSync(replicaDir).filter((file) => file.startsWith('qvm-2000') && file.endsWith('.json')),
    ).toHaveLength(2);
    // The killed run's socket directory is doctor's to remove (the next sync only finishes points).
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, doctor.stdout).toBe(0);
    expect(readdirSync(ws.dir).filter((entry) => entry.endsWith('-replica'))).toEqual([]);
  }, 120_000);

  it('a second plan on the same replica.path is refused at run time, and the first plan\u2019s replica is untouched', async () => {
    const { disks, plan, write, replica, replicaDir } = setUp(2);
    write(1);
    await sync(plan);
    const other = path.join(ws.dir, 'other-source.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', other, '64M']);
    execFileSync('qemu-io', ['-c', 'write -P 0x77 0 8M', other], { stdio: 'ignore' });
    const otherPlan = path.join(ws.dir, 'other.yaml');
    writeFileSync(
      otherPlan,
      stringify({
        version: 1,
        kind: 'replicate',
        name: 'other-replica',
        vm: { name: 'othervm', source: { type: 'qemu', disks: [{ key: 2000, path: other, format: 'qcow2' }] } },
        replica: { path: path.join(replicaDir, 'qvm-{key}.qcow2'), points: 2, scratch: ws.dir },
        nbd: { ports: `${ports[0]}-${ports[1]}` },
      }),
    );
    const before = readdirSync(replicaDir).sort();
    const refused = await sendenseRun([otherPlan, '--db', ws.db]);
    expect(refused.exitCode, refused.stdout).toBe(1);
    expect(refused.stderr).toMatch(
      /replica\.path \S+qvm-2000\.qcow2 on this host is the replica of plan qemu-replica .*each replicate plan needs its own replica\.path/,
    );
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(replicaDir).sort()).toEqual(before);
    for (const [index, disk] of disks.entries()) expect(imagesEqual(disk, replica(2000 + index))).toBe(true);
  }, 120_000);

  it('a failed sync leaves no record for doctor, and a successful sync forgets the records ended syncs left', async () => {
    const { disks, plan, write, replica } = setUp(2);
    const withScratch = (scratch: string) =>
      writeFileSync(
        plan,
        stringify({
          ...(parse(readFileSync(plan, 'utf8')) as object),
          replica: { ...(parse(readFileSync(plan, 'utf8')) as { replica: object }).replica, scratch },
        }),
      );
    const syncRecords = () =>
      (tableRows(ws.db, 'node_resources') as { kind: string; run_id: string }[]).filter(
        (row) => row.kind === 'replica-point',
      );
    write(1);
    // Fails after the sync recorded itself: its socket directory cannot be made.
    withScratch(path.join(ws.dir, 'no-such-dir'));
    const failed = await sendenseRun([plan, '--db', ws.db]);
    expect(failed.exitCode, failed.stdout).toBe(1);
    expect(failed.stderr).toMatch(/cannot use replica\.scratch/);
    expect(syncRecords()).toEqual([]);
    const clean = await sendenseRun(['doctor', '--dry-run', '--db', ws.db]);
    expect(clean.exitCode, clean.stdout).toBe(0);
    // The record an earlier version kept of that failed sync: the next successful sync forgets it.
    const failedRun = (tableRows(ws.db, 'runs') as { id: string; status: string }[]).find(
      (row) => row.status === 'failed',
    )!;
    const db = new Database(ws.db);
    try {
      db.prepare('insert into node_resources (run_id, node, kind, name, facts, since) values (?, ?, ?, ?, ?, ?)').run(
        failedRun.id,
        'this host',
        'replica-point',
        'an-old-failed-sync',
        JSON.stringify({ plan: 'qemu-replica', sourceType: 'qemu', nodeSpec: null }),
        new Date().toISOString(),
      );
    } finally {
      db.close();
    }
    withScratch(ws.dir);
    await sync(plan);
    expect(syncRecords()).toEqual([]);
    const after = await sendenseRun(['doctor', '--dry-run', '--db', ws.db]);
    expect(after.exitCode, after.stdout).toBe(0);
    for (const [index, disk] of disks.entries()) expect(imagesEqual(disk, replica(2000 + index))).toBe(true);
  }, 120_000);

  it('failover of a plan that is not a replicate plan is one usage error', async () => {
    const other = path.join(ws.dir, 'backup.yaml');
    writeFileSync(
      other,
      stringify({
        version: 1,
        kind: 'backup',
        name: 'b',
        vm: { name: 'qvm', source: { type: 'qemu', disks: [{ key: 2000, path: '/dev/null' }] } },
        repository: { path: ws.repository },
      }),
    );
    const result = await sendenseRun(['failover', other, '--db', ws.db]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
