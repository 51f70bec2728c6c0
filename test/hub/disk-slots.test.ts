// Hub-wide disk slots with real sendense-run processes, qemu-nbd and SQLite: a run's disks go at
// most maxParallelDisks at once, runs of several processes queue in the order they came, and a
// queued run that is cancelled or kill -9'd leaves no slot, port or process behind.

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { leasedPorts, processesTaggedBy, recordedProcesses, tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import {
  listBackups,
  parseEvents,
  sendenseRun,
  startSendenseRun,
  writePlan,
  type RunEventLine,
} from '../support/sendense-cli.js';
import { createDisk, differenceBetween, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { writeRestorePlan } from '../restore/restore-plan.js';
import { mostDisksAtOnce, mostHubServersAtOnce } from './disks-at-once.js';

const MiB = 1024 * 1024;
const [first, last] = portRangeForTestFile();
const ws = useRunWorkspace('hub-slots-');

type TimedEvent = RunEventLine & {
  readonly time: string;
  readonly runId?: string;
  readonly granted?: number;
  readonly ahead?: number;
};

function hubConfig(maxParallelDisks: number): string {
  const file = path.join(ws.dir, `hub-${maxParallelDisks}.yaml`);
  writeFileSync(file, `maxParallelDisks: ${maxParallelDisks}\nmemory: 1GiB\nnbd: { ports: ${first}-${last} }\n`);
  return file;
}

// A VM of `count` small disks with some data each; `hold` seconds of before hook keep its slots taken; `kind` the plan's.
function makeVm(name: string, count: number, hold = 0, kind: 'backup' | 'incremental' = 'backup') {
  const disks = Array.from({ length: count }, (_, index) => {
    const file = createDisk(path.join(ws.dir, `${name}-${2000 + index}.qcow2`), 64 * MiB);
    writeDisk(file, [`write -P ${0x10 + index} 0 6M`, `write -P ${0x40 + index} 40M 2M`]);
    return { key: 2000 + index, path: file };
  });
  const plan = writePlan(ws.dir, {
    name: `${name}-nightly`,
    kind,
    vm: name,
    disks,
    repository: ws.repository,
    ports: [first, last],
  });
  if (hold > 0) {
    const doc = parse(readFileSync(plan, 'utf8')) as Record<string, unknown>;
    writeFileSync(plan, stringify({ ...doc, hooks: { before: [{ run: `sleep ${hold}` }] } }));
  }
  return { name, disks, plan };
}

const timed = (stdout: string) => parseEvents(stdout) as TimedEvent[];
const slotRows = () => tableRows(ws.db, 'disk_slots');

describe('hub disk slots', () => {
  it('a 1-disk VM says what its slots are for: the disk, and the memory of one disk at full speed', async () => {
    const vm = makeVm('one', 1);
    const result = await sendenseRun([vm.plan, '--db', ws.db, '--hub-config', hubConfig(16)]);
    expect(result.exitCode, result.stderr).toBe(0);
    // 1 GiB over 16 slots: one disk at full speed needs 3 slots' memory.
    expect(result.stdout).toContain(
      'disk slots: 3 of 3 wanted for 1 disk, the memory of a disk at full speed (hub 3/16)',
    );
  });

  it('a VM of 5 disks under maxParallelDisks 2: at most 2 disks in transfer and 2 qemu-nbd at once, every disk exact', async () => {
    const vm = makeVm('wide', 5, 0, 'incremental');
    // The full: qemu-img writes each new file on this host (docs/how-it-works.md#a-local-full-backup), no qemu-nbd on the hub.
    const full = startSendenseRun([vm.plan, '--db', ws.db, '--hub-config', hubConfig(2)]);
    const fullServers = mostHubServersAtOnce(full.pid, full.exited);
    const fullResult = await full.exited;
    expect(fullResult.exitCode, fullResult.stdout + fullResult.stderr).toBe(0);
    expect(await fullServers).toBe(0);

    // The incremental serves each new file on the hub: the hub's memory must not grow with the
    // number of disks, so a waiting disk has no qemu-nbd yet.
    for (const [index, disk] of vm.disks.entries()) writeDisk(disk.path, [`write -P ${0x70 + index} 20M 3M`]);
    const run = startSendenseRun([vm.plan, '--db', ws.db, '--hub-config', hubConfig(2)]);
    const servers = mostHubServersAtOnce(run.pid, run.exited);
    const result = await run.exited;
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect((await listBackups(ws.db, 'wide')).map((backup) => backup.type)).toEqual(['full', 'incremental']);
    expect(await servers).toBe(2);
    const events = timed(result.stdout);
    expect(events.find((event) => event.type === 'slots')).toMatchObject({ granted: 2, limit: 2 });
    expect(mostDisksAtOnce(events)).toBe(2);
    const backups = await listBackups(ws.db, 'wide');
    expect(backups.map((backup) => backup.type)).toEqual(['full', 'incremental']);
    const backup = backups.at(-1)!;
    for (const disk of vm.disks)
      expect(differenceBetween(backup.disks.find((d) => d.diskKey === disk.key)!.file, disk.path)).toBe('');
    expect(slotRows()).toEqual([]);
    expect(leasedPorts(ws.db)).toEqual([]);

    // A restore of all 5 disks into files on this host takes turns the same way.
    const target = path.join(ws.dir, 'restored-{key}.qcow2');
    const restorePlan = writeRestorePlan(ws.dir, {
      name: 'wide-restore',
      vm: 'wide',
      repository: ws.repository,
      ports: [first, last],
      point: 'latest',
      target: { type: 'file', path: target, format: 'qcow2' },
    });
    const restoring = startSendenseRun([restorePlan, '--db', ws.db, '--hub-config', hubConfig(2)]);
    const restoreServers = mostHubServersAtOnce(restoring.pid, restoring.exited);
    const restore = await restoring.exited;
    expect(restore.exitCode, restore.stdout + restore.stderr).toBe(0);
    expect(await restoreServers).toBeLessThanOrEqual(2);
    expect(mostDisksAtOnce(timed(restore.stdout))).toBe(2);
    for (const disk of vm.disks)
      expect(differenceBetween(target.replace('{key}', String(disk.key)), disk.path)).toBe('');
  });

  it('runs of separate processes wait in the order they came, and history shows the time queued', async () => {
    const hub = hubConfig(1);
    const holder = startSendenseRun([makeVm('vm0', 1, 3).plan, '--db', ws.db, '--hub-config', hub]);
    await holder.waitForEvent((event) => event.type === 'slots');
    const waiting = [];
    for (const name of ['vm1', 'vm2', 'vm3']) {
      const run = startSendenseRun([makeVm(name, 1, 1).plan, '--db', ws.db, '--hub-config', hub]);
      // Queued before the next one starts: that fixes the order they came in.
      await run.waitForEvent((event) => event.type === 'queued');
      waiting.push(run);
    }
    const results = await Promise.all([holder, ...waiting].map((run) => run.exited));
    for (const result of results) expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const grantedAt = results.map((result) =>
      Date.parse(timed(result.stdout).find((event) => event.type === 'slots')!.time),
    );
    const endedAt = results.map((result) =>
      Date.parse(timed(result.stdout).find((event) => event.type === 'run-end')!.time),
    );
    for (let i = 1; i < results.length; i++) {
      expect(grantedAt[i], `run ${i} after run ${i - 1}`).toBeGreaterThan(grantedAt[i - 1]!);
      // One slot: the next run's disks start only once the one before has let go.
      expect(grantedAt[i]! + 50, `run ${i} granted after run ${i - 1} ended`).toBeGreaterThanOrEqual(endedAt[i - 1]!);
    }
    const history = await sendenseRun(['history', '--json', '--db', ws.db]);
    const runs = history.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { plan: string; queuedSeconds: number | null });
    expect(runs.find((run) => run.plan === 'vm0-nightly')!.queuedSeconds).toBeNull();
    expect(runs.find((run) => run.plan === 'vm3-nightly')!.queuedSeconds).toBeGreaterThan(2);
    const table = await sendenseRun(['history', '--db', ws.db]);
    expect(table.stdout).toMatch(/queued/);
    expect(slotRows()).toEqual([]);
  });

  it('a queued run cancelled with SIGTERM leaves the queue and takes nothing; a kill -9d one is cleared by doctor', async () => {
    const hub = hubConfig(1);
    const holder = startSendenseRun([makeVm('hold', 1, 6).plan, '--db', ws.db, '--hub-config', hub]);
    await holder.waitForEvent((event) => event.type === 'slots');
    const cancelled = startSendenseRun([makeVm('cancel', 2).plan, '--db', ws.db, '--hub-config', hub]);
    await cancelled.waitForEvent((event) => event.type === 'queued');
    const killed = startSendenseRun([makeVm('killed', 2).plan, '--db', ws.db, '--hub-config', hub]);
    await killed.waitForEvent((event) => event.type === 'queued');
    expect(slotRows()).toHaveLength(3);

    process.kill(cancelled.pid, 'SIGTERM');
    const end = await cancelled.exited;
    expect(end.exitCode, end.stdout + end.stderr).toBe(130);
    expect(timed(end.stdout).find((event) => event.type === 'run-end')).toMatchObject({ status: 'interrupted' });
    expect(processesTaggedBy(cancelled.pid)).toEqual([]);

    process.kill(killed.pid, 'SIGKILL');
    await killed.exited;
    expect(slotRows()).toHaveLength(2);
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, doctor.stdout + doctor.stderr).toBe(0);
    expect(doctor.stdout).toMatch(/a place in the disk queue by run \S+ of plan killed-nightly/);
    expect(slotRows()).toHaveLength(1);

    expect((await holder.exited).exitCode).toBe(0);
    expect(slotRows()).toEqual([]);
    expect(leasedPorts(ws.db)).toEqual([]);
    expect(recordedProcesses(ws.db)).toEqual([]);
  });

  it("a kill -9'd holder's slots are taken back by the next run, never leaked", async () => {
    const hub = hubConfig(1);
    const holder = startSendenseRun([makeVm('dies', 1, 30).plan, '--db', ws.db, '--hub-config', hub]);
    await holder.waitForEvent((event) => event.type === 'slots');
    const next = startSendenseRun([makeVm('after', 1).plan, '--db', ws.db, '--hub-config', hub]);
    await next.waitForEvent((event) => event.type === 'queued');
    process.kill(holder.pid, 'SIGKILL');
    await holder.exited;
    const result = await next.exited;
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(slotRows()).toEqual([]);
    // The hook's sleep was the killed run's child: doctor stops it and marks the run failed.
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, doctor.stdout + doctor.stderr).toBe(0);
  });
});
