// kill -9 of the CLI at every moment of a run (before, while and after each spawn), then
// `doctor`: no process, lease, lock or unfinished file of the killed run is left, every backup
// that completed is exact, and the next incremental is exact. Same for a restore mid-copy.

import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotedProcesses, identify, killIfAlive, waitForProcessGone } from '../support/processes.js';
import {
  leasedPorts,
  processesTaggedBy,
  processesUnder,
  recordedProcesses,
  tableRows,
} from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, startSendenseRun, writePlan, type RunEventLine } from '../support/sendense-cli.js';
import {
  bitmapNames,
  createDisk,
  differenceBetween,
  keepCopy,
  portRangeForTestFile,
  writeDisk,
} from '../support/vm-disks.js';
import { writeRestorePlan } from '../restore/restore-plan.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('kill-anywhere-', { per: 'file' });
const seen = new Set<number>();
const noted = new NotedProcesses();
// A failed assertion may leave what the killed run started: stop exactly those (by owner tag).
afterEach(() => {
  noted.killAll();
  for (const pid of seen) for (const left of processesTaggedBy(pid)) killIfAlive(identify(left.pid));
  seen.clear();
});

// When to kill: on an event, after a delay (ms). start-qemu-nbd is swept finely: its spawns.
const STEPS = [
  'resolve-chain',
  'allocate-ports',
  'create-qcow2',
  'start-qemu-nbd',
  'open-tunnel',
  'snapshot-source',
  'transfer',
  'record-change-ids',
  'cleanup',
];
const MOMENTS: readonly {
  readonly name: string;
  readonly accept: (event: RunEventLine) => boolean;
  readonly delayMs: number;
}[] = [
  ...STEPS.map((step) => ({
    name: `at the start of ${step}`,
    accept: (e: RunEventLine) => e.type === 'step-start' && e.step === step,
    delayMs: 0,
  })),
  ...[1, 2, 4, 7, 12, 20, 35].map((delayMs) => ({
    name: `${delayMs} ms into start-qemu-nbd`,
    accept: (e: RunEventLine) => e.type === 'step-start' && e.step === 'start-qemu-nbd',
    delayMs,
  })),
  {
    name: 'just after start-qemu-nbd',
    accept: (e) => e.type === 'step-done' && e.step === 'start-qemu-nbd',
    delayMs: 0,
  },
  { name: 'mid-transfer', accept: (e) => e.type === 'progress' && e.bytesDone! > 0, delayMs: 0 },
];

let disks: { key: number; path: string }[];
let plan: string;

beforeAll(async () => {
  disks = [2000, 2001].map((key) => ({ key, path: createDisk(path.join(ws.dir, `kvm-${key}.qcow2`), 256 * MiB) }));
  writeDisk(disks[0]!.path, ['write -P 0x31 0 64M', `write -P 0x32 ${256 * MiB - 512} 512`]);
  writeDisk(disks[1]!.path, ['write -P 0x33 1M 32M']);
  plan = writePlan(ws.dir, { name: 'kvm-nightly', vm: 'kvm', disks, repository: ws.repository, ports });
  const full = await sendenseRun([plan, '--db', ws.db]);
  if (full.exitCode !== 0) throw new Error(`full backup failed:\n${full.stderr}`);
  // What every backup taken from now on must hold.
  writeDisk(disks[0]!.path, ['write -P 0x41 8M 16M', 'write -z 40M 4M']);
  writeDisk(disks[1]!.path, ['discard 1M 2M']);
}, 120_000);

// Files in the repository other than those of complete backups (and its marker).
async function strayRepositoryFiles(): Promise<string[]> {
  // A complete backup's file and its manifest beside it.
  const kept = new Set(
    (await listBackups(ws.db))
      .filter((b) => b.status === 'complete')
      .flatMap((b) => b.disks.flatMap((d) => [d.file, d.file.replace(/\.qcow2$/, '.json')])),
  );
  const all = (readdirSync(ws.repository, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[]).map(
    (entry) => path.join(entry.parentPath, entry.name),
  );
  return all.filter(
    (file) => !kept.has(file) && path.basename(file) !== '.sendense-repository' && !/disk-\d+$|kvm$|rvm$/.test(file),
  );
}

// The killed run's PID; `killed`: the kill ended it (it had not ended by itself first).
async function killAt(
  args: readonly string[],
  accept: (event: RunEventLine) => boolean,
  delayMs: number,
): Promise<{ readonly pid: number; readonly killed: boolean }> {
  const cli = startSendenseRun(args);
  seen.add(cli.pid);
  noted.add(cli.pid);
  const reached = await cli.waitForEvent(accept).then(
    () => true,
    () => false,
  );
  if (reached && delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  try {
    process.kill(cli.pid, 'SIGKILL');
  } catch {
    // it ended by itself: nothing to kill, the checks below still hold
  }
  const exit = await cli.exited;
  return { pid: cli.pid, killed: exit.signal === 'SIGKILL' };
}

async function expectNothingLeftBy(killed: number): Promise<void> {
  const doctor = await sendenseRun(['doctor', '--db', ws.db]);
  expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
  for (const left of processesTaggedBy(killed))
    expect(await waitForProcessGone(left.pid), `${left.command.join(' ')} (pid ${left.pid})`).toBe(true);
  expect(processesUnder(ws.dir)).toEqual([]);
  expect(recordedProcesses(ws.db)).toEqual([]);
  expect(leasedPorts(ws.db)).toEqual([]);
  expect(tableRows(ws.db, 'vm_locks')).toEqual([]);
  expect(tableRows(ws.db, 'run_files')).toEqual([]);
  expect(await strayRepositoryFiles()).toEqual([]);
  const again = await sendenseRun(['doctor', '--db', ws.db]);
  expect(again.stdout, 'a second doctor finds nothing').toContain('nothing left behind');
}

describe('kill -9 at any moment of a backup', () => {
  for (const moment of MOMENTS) {
    it(`${moment.name}: doctor leaves nothing of the run, every complete backup is exact`, async () => {
      const copies = disks.map((disk) => keepCopy(disk.path, `${disk.path}.now`));
      const { pid } = await killAt([plan, '--db', ws.db], moment.accept, moment.delayMs);
      await expectNothingLeftBy(pid);
      const complete = (await listBackups(ws.db, 'kvm')).filter((backup) => backup.status === 'complete');
      // Each disk keeps exactly the bitmap the next incremental starts from.
      for (const [index, disk] of disks.entries()) {
        expect(bitmapNames(disk.path)).toEqual([complete.at(-1)!.disks[index]!.changeId]);
      }
      // Backups taken after the full saw the disks as they are now.
      for (const backup of complete.slice(1)) {
        disks.forEach((disk, index) =>
          expect(differenceBetween(backup.disks[index]!.file, copies[index]!), `${backup.id} disk ${disk.key}`).toBe(
            '',
          ),
        );
      }
    }, 60_000);
  }

  it('after all that, the next incremental is exact', async () => {
    writeDisk(disks[0]!.path, ['write -P 0x51 100M 3M', `write -z ${256 * MiB - 4096} 4096`]);
    writeDisk(disks[1]!.path, ['write -P 0x52 0 1M']);
    const copies = disks.map((disk) => keepCopy(disk.path, `${disk.path}.final`));
    const next = await sendenseRun([plan, '--db', ws.db]);
    expect(next.exitCode, next.stderr).toBe(0);
    const last = (await listBackups(ws.db, 'kvm')).filter((backup) => backup.status === 'complete').at(-1)!;
    expect(last.type).toBe('incremental');
    disks.forEach((disk, index) =>
      expect(differenceBetween(last.disks[index]!.file, copies[index]!), `disk ${disk.key}`).toBe(''),
    );
  }, 60_000);
});

// A full of these image files on this host is copied by qemu-img (docs/how-it-works.md#a-local-full-backup):
// no qemu-nbd on the hub, the node transfer's qemu-img writing the new files. Killed at each step
// and at moments into its copy, doctor leaves nothing (qemu-img included, by its owner tag) and
// every complete backup stays exact.
const FULL_STEPS = [
  'resolve-chain',
  'allocate-ports',
  'create-qcow2',
  'snapshot-source',
  'transfer',
  'record-change-ids',
  'cleanup',
];
const FULL_MOMENTS: readonly {
  readonly name: string;
  readonly accept: (event: RunEventLine) => boolean;
  readonly delayMs: number;
}[] = [
  ...FULL_STEPS.map((step) => ({
    name: `at the start of ${step}`,
    accept: (e: RunEventLine) => e.type === 'step-start' && e.step === step,
    delayMs: 0,
  })),
  ...[2, 10, 30, 60].map((delayMs) => ({
    name: `${delayMs} ms into transfer`,
    accept: (e: RunEventLine) => e.type === 'step-start' && e.step === 'transfer',
    delayMs,
  })),
  { name: 'mid-copy', accept: (e) => e.type === 'progress' && e.bytesDone! > 0, delayMs: 0 },
];

describe('kill -9 at any moment of a local full copied by qemu-img', () => {
  for (const moment of FULL_MOMENTS) {
    it(`${moment.name}: doctor leaves nothing of the run, every complete backup is exact`, async () => {
      const fullPlan = writePlan(ws.dir, {
        name: 'kvm-weekly',
        kind: 'backup',
        vm: 'kvm',
        disks,
        repository: ws.repository,
        ports,
      });
      const copies = disks.map((disk) => keepCopy(disk.path, `${disk.path}.now`));
      const { pid, killed } = await killAt([fullPlan, '--db', ws.db], moment.accept, moment.delayMs);
      // Every moment comes before the run ends: a full that ended first would test nothing.
      expect(killed, 'the run ended before the kill').toBe(true);
      await expectNothingLeftBy(pid);
      const complete = (await listBackups(ws.db, 'kvm')).filter((backup) => backup.status === 'complete');
      // Each disk keeps the bitmap of each plan's last complete backup (docs/how-it-works.md#plans-that-share-a-vm), nothing of the killed run.
      const lastOfEachPlan = [...new Map(complete.map((backup) => [backup.plan, backup])).values()];
      for (const [index, disk] of disks.entries()) {
        expect(bitmapNames(disk.path).sort()).toEqual(
          lastOfEachPlan.map((backup) => backup.disks[index]!.changeId).sort(),
        );
      }
      // The disks have not changed since this series started: every full of it holds them as they are.
      for (const backup of complete.filter((candidate) => candidate.plan === 'kvm-weekly')) {
        disks.forEach((disk, index) =>
          expect(differenceBetween(backup.disks[index]!.file, copies[index]!), `${backup.id} disk ${disk.key}`).toBe(
            '',
          ),
        );
      }
    }, 60_000);
  }

  it('after all that, the next full is copied by qemu-img and exact', async () => {
    const fullPlan = writePlan(ws.dir, {
      name: 'kvm-weekly',
      kind: 'backup',
      vm: 'kvm',
      disks,
      repository: ws.repository,
      ports,
    });
    const copies = disks.map((disk) => keepCopy(disk.path, `${disk.path}.weekly`));
    const next = await sendenseRun([fullPlan, '--db', ws.db]);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stdout).toMatch(/\[transfer\] 2 disks, .* \(copied by qemu-img convert\)/);
    const last = (await listBackups(ws.db, 'kvm')).filter((backup) => backup.status === 'complete').at(-1)!;
    expect(last.type).toBe('full');
    disks.forEach((disk, index) =>
      expect(differenceBetween(last.disks[index]!.file, copies[index]!), `disk ${disk.key}`).toBe(''),
    );
  }, 60_000);
});

describe('kill -9 of a restore', () => {
  for (const [name, accept] of [
    ['at the start of prepare-target', (e: RunEventLine) => e.type === 'step-start' && e.step === 'prepare-target'],
    ['at the start of the copy', (e: RunEventLine) => e.type === 'step-start' && e.step === 'transfer'],
    ['mid-copy', (e: RunEventLine) => e.type === 'progress'],
    // The check reads the restored disk through a qemu-nbd of its own.
    ['as verify starts', (e: RunEventLine) => e.type === 'step-start' && e.step === 'verify'],
  ] as const) {
    it(`${name}: doctor stops what it ran and removes the unfinished target; nothing else is touched`, async () => {
      const out = path.join(ws.dir, `restore-${name.replaceAll(' ', '-')}`);
      mkdirSync(out);
      const restorePlan = writeRestorePlan(out, {
        name: 'kvm-restore',
        vm: 'kvm',
        repository: ws.repository,
        ports,
        point: 'latest',
        target: { type: 'file', path: path.join(out, 'disk-{key}.raw'), format: 'raw' },
      });
      const { pid } = await killAt([restorePlan, '--db', ws.db], accept, 5);
      await expectNothingLeftBy(pid);
      expect(readdirSync(out)).toEqual(['kvm-restore.yaml']);
      expect(existsSync(path.join(out, 'disk-2000.raw'))).toBe(false);
    }, 60_000);
  }
});
