// Runs that fail or are stopped: one clear error, nothing left running or leased, no half-written
// file or stray bitmap, the chain untouched, and the next run exact.

import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/process/process-identity.js';
import { NotedProcesses, waitForProcessGone } from '../support/processes.js';
import { startQemuNbd } from '../support/qemu-nbd-server.js';
import { descendantPids, leasedPorts, qemuNbdAmong, recordedProcesses } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import {
  listBackups,
  parseEvents,
  runStatuses,
  sendenseRun,
  startSendenseRun,
  stoppedQemuNbdPids,
  writePlan,
  type BackupRow,
  type RunningCli,
} from '../support/sendense-cli.js';
import {
  bitmapNames,
  createDisk,
  differenceBetween,
  keepCopy,
  portRangeForTestFile,
  sha256,
  writeDisk,
} from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const RATE = '16MiB/s';
const ports = portRangeForTestFile();
const ws = useRunWorkspace('engine-fail-');
/** Every PID a test saw its CLI start, stopped in afterEach if a failed assertion left it. */
const seenPids = new NotedProcesses();

// After this, useRunWorkspace stops what the state database recorded and removes the dir.
afterEach(() => {
  seenPids.killAll();
});

// Files in the repository, relative, sorted.
function repositoryFiles(): string[] {
  if (!existsSync(ws.repository)) return [];
  return (readdirSync(ws.repository, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(ws.repository, path.join(entry.parentPath, entry.name)))
    .sort();
}

const complete = (backups: readonly BackupRow[]) => backups.filter((backup) => backup.status === 'complete');

// A VM whose first (full) backup is small and whose next incremental (84 MiB, spread over a 2 GiB
// disk) is held to 16 MiB/s by the plan's rate (docs/bandwidth.md): ~5 s of transfer to interrupt,
// whatever this machine's speed, without writing and copying gigabytes.
async function vmWithBigIncremental(name: string) {
  const disks = [
    { key: 2000, path: createDisk(path.join(ws.dir, `${name}-disk0.qcow2`), 2048 * MiB) },
    { key: 2001, path: createDisk(path.join(ws.dir, `${name}-disk1.qcow2`), 64 * MiB) },
  ];
  writeDisk(disks[0].path, ['write -P 0x51 0 16M', `write -P 0x52 ${2048 * MiB - 512} 512`]);
  writeDisk(disks[1].path, ['write -P 0x53 0 4M']);
  const plan = writePlan(ws.dir, { name, vm: name, disks, repository: ws.repository, ports, rate: RATE });
  const full = await sendenseRun([plan, '--db', ws.db]);
  expect(full.exitCode, full.stderr).toBe(0);
  const [fullBackup] = await listBackups(ws.db, name);
  writeDisk(disks[0].path, ['write -P 0x61 32M 48M', 'write -P 0x63 1100M 32M', 'write -z 4M 4M']);
  writeDisk(disks[1].path, ['write -P 0x62 8M 2M']);
  return {
    disks,
    plan,
    fullBackup,
    bitmapsBefore: disks.map((disk) => bitmapNames(disk.path)),
    filesBefore: repositoryFiles(),
  };
}

// The next run of the VM's plan is an incremental on the full, equal to the disks as they are now.
async function expectNextIncrementalExact(
  vm: Awaited<ReturnType<typeof vmWithBigIncremental>>,
  name: string,
): Promise<void> {
  const copies = vm.disks.map((disk) => keepCopy(disk.path, `${disk.path}.point2`));
  const next = await sendenseRun([vm.plan, '--db', ws.db]);
  expect(next.exitCode, next.stderr).toBe(0);
  const backups = complete(await listBackups(ws.db, name));
  expect(backups.map((backup) => backup.type)).toEqual(['full', 'incremental']);
  vm.disks.forEach((disk, index) => {
    const file = backups[1].disks.find((d) => d.diskKey === disk.key)!.file;
    expect(differenceBetween(file, copies[index]), `disk ${disk.key}`).toBe('');
  });
}

// Starts the run and resolves once data is moving: the CLI, the processes under it, its qemu-nbd targets.
async function startMidTransfer(plan: string): Promise<{ cli: RunningCli; children: number[]; targets: number[] }> {
  const cli = startSendenseRun([plan, '--db', ws.db]);
  seenPids.add(cli.pid);
  await cli.waitForEvent(
    (event) => event.type === 'progress' && event.bytesDone! > 0 && event.bytesDone! < event.bytesToDo!,
  );
  const children = descendantPids(cli.pid);
  children.forEach((pid) => seenPids.add(pid));
  const targets = recordedProcesses(ws.db)
    .filter((record) => record.kind === 'qemu-nbd')
    .map((record) => record.pid);
  expect(targets.length, 'one qemu-nbd target per disk is recorded').toBe(2);
  return { cli, children, targets };
}

async function expectAllGone(pids: readonly number[]): Promise<void> {
  for (const pid of pids) expect(await waitForProcessGone(pid), `pid ${pid} is still running`).toBe(true);
}

function expectNothingHeld(): void {
  expect(recordedProcesses(ws.db)).toEqual([]);
  expect(leasedPorts(ws.db)).toEqual([]);
}

describe('failure paths of a backup run', () => {
  it('a missing disk file: exit 1, one clear error naming the file, nothing left', async () => {
    const disk0 = createDisk(path.join(ws.dir, 'disk0.qcow2'), 32 * MiB);
    writeDisk(disk0, ['write -P 0x11 0 1M']);
    const missing = path.join(ws.dir, 'disk1.qcow2');
    const plan = writePlan(ws.dir, {
      name: 'missing',
      vm: 'missing',
      disks: [
        { key: 2000, path: disk0 },
        { key: 2001, path: missing },
      ],
      repository: ws.repository,
      ports,
    });

    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode).toBe(1);
    const errorLines = result.stderr.split('\n').filter((line) => line.includes(missing));
    expect(errorLines, result.stderr).toHaveLength(1);
    expect(errorLines[0]).toContain('disk 2001');
    expect(errorLines[0]).toMatch(/no such file/i);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expectNothingHeld();
    expect(repositoryFiles()).toEqual([]);
    expect(bitmapNames(disk0)).toEqual([]);
    expect(complete(await listBackups(ws.db))).toEqual([]);
  });

  it('a source image in use by another process (the VM is running): one clear error, nothing touched', async () => {
    const disk0 = createDisk(path.join(ws.dir, 'busy0.qcow2'), 32 * MiB);
    writeDisk(disk0, ['write -P 0x11 0 1M']);
    const plan = writePlan(ws.dir, {
      name: 'busy',
      vm: 'busy',
      disks: [{ key: 2000, path: disk0 }],
      repository: ws.repository,
      ports,
    });
    const holder = await startQemuNbd({ file: disk0, socket: path.join(ws.dir, 'holder.sock') });
    seenPids.add(holder.pid);
    try {
      const result = await sendenseRun([plan, '--db', ws.db]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(
        new RegExp(`disk 2000: image ${disk0.replaceAll('.', '\\.')} is in use by another process`),
      );
      expectNothingHeld();
      expect(repositoryFiles()).toEqual([]);
    } finally {
      await holder.stop();
    }
    expect(bitmapNames(disk0)).toEqual([]);
  });

  it("onMissingChain: fail with no chain to continue: exit 1 saying so, no full taken behind the plan's back", async () => {
    const disk0 = createDisk(path.join(ws.dir, 'strict0.qcow2'), 32 * MiB);
    writeDisk(disk0, ['write -P 0x11 0 1M']);
    const plan = writePlan(ws.dir, {
      name: 'strict',
      vm: 'strict',
      disks: [{ key: 2000, path: disk0 }],
      repository: ws.repository,
      ports,
      incremental: { onMissingChain: 'fail' },
    });
    const first = await sendenseRun([plan, '--db', ws.db]);
    expect(first.exitCode).toBe(1);
    expect(first.stderr).toMatch(/no complete backup of strict .* incremental\.onMissingChain is 'fail'/);
    expect(repositoryFiles()).toEqual([]);
    expect(bitmapNames(disk0)).toEqual([]);
  });

  it('the target qemu-nbd killed mid-transfer: the run fails cleanly, the chain is untouched, the next incremental is exact', async () => {
    const vm = await vmWithBigIncremental('killtarget');
    const parentSums = vm.fullBackup.disks.map((disk) => sha256(disk.file));
    const { cli, children, targets } = await startMidTransfer(vm.plan);
    process.kill(targets[0], 'SIGKILL');
    const end = await cli.exited;

    expect(end.exitCode, end.stderr).toBe(1);
    const runEnd = parseEvents(end.stdout).find((event) => event.type === 'run-end');
    expect(runEnd?.status).toBe('failed');
    expect(runEnd?.error).toMatch(/qemu-nbd for disk 2000 .* was killed/);
    expect(await runStatuses(ws.db)).toEqual(['failed', 'succeeded']);
    await expectAllGone(children);
    expectNothingHeld();
    expect(repositoryFiles()).toEqual(vm.filesBefore);
    expect(vm.fullBackup.disks.map((disk) => sha256(disk.file))).toEqual(parentSums);
    expect(complete(await listBackups(ws.db, 'killtarget')).map((backup) => backup.id)).toEqual([vm.fullBackup.id]);
    expect(vm.disks.map((disk) => bitmapNames(disk.path))).toEqual(vm.bitmapsBefore);

    // The old bitmap still covers everything since the full: the next incremental is exact.
    await expectNextIncrementalExact(vm, 'killtarget');
  });

  it('a transfer that outlasts timeouts.transfer: one clear error, nothing left, the chain untouched', async () => {
    const vm = await vmWithBigIncremental('slow');
    const plan = writePlan(ws.dir, {
      name: 'slow',
      vm: 'slow',
      disks: vm.disks,
      repository: ws.repository,
      ports,
      rate: RATE,
      timeouts: { transfer: '1s' },
    });
    const result = await sendenseRun([plan, '--db', ws.db]);

    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/step transfer: the transfer did not finish within 1s \(timeouts\.transfer\)/);
    const stopped = stoppedQemuNbdPids(result.stdout);
    expect(stopped).toHaveLength(2);
    await expectAllGone(stopped);
    expectNothingHeld();
    expect(repositoryFiles()).toEqual(vm.filesBefore);
    expect(vm.disks.map((disk) => bitmapNames(disk.path))).toEqual(vm.bitmapsBefore);
    expect(complete(await listBackups(ws.db, 'slow')).map((backup) => backup.id)).toEqual([vm.fullBackup.id]);
  });

  // SIGHUP: the operator's terminal or SSH session went away.
  it.each(['SIGTERM', 'SIGHUP'] as const)('%s mid-transfer: exit 130 after cleanup, nothing left', async (signal) => {
    const vm = await vmWithBigIncremental(signal.toLowerCase());
    const { cli, children } = await startMidTransfer(vm.plan);
    expect(qemuNbdAmong(children).length).toBeGreaterThanOrEqual(2);
    process.kill(cli.pid, signal);
    const end = await cli.exited;

    expect(end.exitCode, end.stderr).toBe(130);
    expect(parseEvents(end.stdout).find((event) => event.type === 'run-end')?.error).toContain(
      `interrupted by ${signal}`,
    );
    expect(await runStatuses(ws.db)).toEqual(['interrupted', 'succeeded']);
    await expectAllGone(children);
    expectNothingHeld();
    expect(repositoryFiles()).toEqual(vm.filesBefore);
    expect(vm.disks.map((disk) => bitmapNames(disk.path))).toEqual(vm.bitmapsBefore);
    expect(complete(await listBackups(ws.db, signal.toLowerCase())).map((backup) => backup.id)).toEqual([
      vm.fullBackup.id,
    ]);
  });

  it('SIGKILL mid-transfer: doctor stops the orphans, releases the leases, deletes the files and bitmaps; the next run is exact', async () => {
    const vm = await vmWithBigIncremental('sigkill');
    const { cli, children, targets } = await startMidTransfer(vm.plan);
    process.kill(cli.pid, 'SIGKILL');
    await cli.exited;

    // What a killed run leaves: its qemu-nbd targets, its leases, its new files and bitmaps.
    expect(targets.every((pid) => isProcessAlive(pid))).toBe(true);
    expect(leasedPorts(ws.db).length).toBe(2);
    expect(repositoryFiles().length).toBeGreaterThan(vm.filesBefore.length);
    expect(bitmapNames(vm.disks[0].path).length).toBe(2);
    // The node transfer sees its parent gone and stops itself (and its own qemu-nbd).
    await expectAllGone(children.filter((pid) => !targets.includes(pid)));
    // A kill between writing a manifest's temp file and renaming it over the manifest leaves this.
    const newDisk = path.join(
      ws.repository,
      repositoryFiles().find((file) => !vm.filesBefore.includes(file) && file.endsWith('.qcow2'))!,
    );
    const temp = path.join(path.dirname(newDisk), `.${path.basename(newDisk, '.qcow2')}.json.${cli.pid}.tmp`);
    writeFileSync(temp, '{"format":"sendense-manifest"');

    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    for (const pid of targets) expect(doctor.stdout).toContain(`pid ${pid}`);
    expect(doctor.stdout).toMatch(/port \d+ leased by run .*: release it: done/);
    expect(doctor.stdout).toMatch(/half-written file .*: delete it: done/);
    expect(existsSync(temp), 'the unfinished manifest is gone').toBe(false);
    expect(doctor.stdout).toMatch(/orphan bitmap .*: remove it: done/);
    await expectAllGone(targets);
    expectNothingHeld();
    expect(repositoryFiles()).toEqual(vm.filesBefore);
    expect(vm.disks.map((disk) => bitmapNames(disk.path))).toEqual(vm.bitmapsBefore);
    expect(await runStatuses(ws.db)).toEqual(['failed', 'succeeded']);
    const again = await sendenseRun(['doctor', '--db', ws.db]);
    expect(again.stdout).toContain('nothing left behind');

    await expectNextIncrementalExact(vm, 'sigkill');
  });

  it('doctor during a live run leaves it alone and finds nothing: the run is a note, not a finding', async () => {
    const vm = await vmWithBigIncremental('doctor-live');
    const { cli, targets } = await startMidTransfer(vm.plan);
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, doctor.stderr).toBe(0);
    expect(doctor.stdout).toMatch(/run run-\S+ is still running: left alone/);
    expect(doctor.stdout).toContain('doctor: nothing left behind');
    expect(targets.every((pid) => isProcessAlive(pid))).toBe(true);
    const end = await cli.exited;
    expect(end.exitCode, end.stderr).toBe(0);
    expect(await runStatuses(ws.db)).toEqual(['succeeded', 'succeeded']);
  });
});
