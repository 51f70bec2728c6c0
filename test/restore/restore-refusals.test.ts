// Restores that must not happen: each is one clear error, exit code 1, the run recorded as failed
// with that error, and nothing changed (targets untouched or absent, no process or port held).

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { startQemuNbd, useNbdServers } from '../support/qemu-nbd-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { BIN, listBackups, sendenseRun, type CliResult } from '../support/sendense-cli.js';
import { sha256 } from '../support/vm-disks.js';
import { backUpVm, type BackedUpVm } from './restore-chain.js';
import { restoredDifference, writeRestorePlan, type RestoreTarget } from './restore-plan.js';

const MiB = 1024 * 1024;
const PORTS: [number, number] = [30100, 30139];
const ws = useRunWorkspace('restore-refusals-', { per: 'file' });
let vm: BackedUpVm;
let failedBackupId: string;
let restores = 0;
const servers = useNbdServers();

beforeAll(async () => {
  vm = await backUpVm(ws.dir, { vm: 'fvm', ports: PORTS, points: 2 });
  // A backup that does not complete: interrupted (SIGINT to the CLI we started) once it has begun.
  const backup = spawn(process.execPath, [BIN, vm.backupPlan, '--db', vm.db, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let sent = false;
  backup.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (!sent && output.includes('"step":"start-qemu-nbd"')) sent = backup.kill('SIGINT');
  });
  backup.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => backup.once('close', resolve));
  if (code !== 130) throw new Error(`the interrupted backup should exit 130, got ${code}:\n${output}`);
  const failed = (await listBackups(vm.db, vm.vm)).filter((backup) => backup.status !== 'complete');
  if (failed.length !== 1) throw new Error(`expected one incomplete backup, got ${JSON.stringify(failed)}`);
  failedBackupId = failed[0]!.id;
}, 120_000);

interface Restore {
  readonly result: CliResult;
  readonly name: string;
  readonly out: string;
}

async function restore(
  point: string,
  target: (out: string) => RestoreTarget,
  options: { disks?: number[]; prepare?: (out: string) => void } = {},
): Promise<Restore> {
  restores += 1;
  const name = `refused-${restores}`;
  const out = path.join(ws.dir, name);
  mkdirSync(out);
  options.prepare?.(out);
  const plan = writeRestorePlan(out, {
    name,
    vm: vm.vm,
    repository: vm.repository,
    ports: PORTS,
    point,
    disks: options.disks,
    target: target(out),
  });
  return { result: await sendenseRun([plan, '--db', vm.db]), name, out };
}

const qcow2Files = (out: string): RestoreTarget => ({
  type: 'file',
  path: path.join(out, 'disk-{key}.qcow2'),
  format: 'qcow2',
});

// Exit 1, the error shown, the run recorded as failed with it, nothing held afterwards.
async function expectRefused(restored: Restore, error: RegExp): Promise<void> {
  const { result, name } = restored;
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(1);
  expect(`${result.stdout}\n${result.stderr}`).toMatch(error);
  const history = await sendenseRun(['history', '--json', '--plan', name, '--db', vm.db]);
  const runs = history.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { status: string; error: string | null });
  expect(runs).toHaveLength(1);
  expect(runs[0]!.status).toBe('failed');
  expect(runs[0]!.error).toMatch(error);
  expect(recordedProcesses(vm.db)).toEqual([]);
  expect(leasedPorts(vm.db)).toEqual([]);
}

// The restore directory holds only the plan file: no target was created.
function expectNoTargets(out: string): void {
  expect(readdirSync(out).filter((file) => !file.endsWith('.yaml'))).toEqual([]);
}

describe('restore refusals', () => {
  it('an unknown backup id', async () => {
    const restored = await restore('20990101-000000-dead', qcow2Files);
    await expectRefused(restored, /there is no backup '20990101-000000-dead' of VM fvm/);
    expectNoTargets(restored.out);
  });

  it('an incomplete (failed) backup id', async () => {
    const restored = await restore(failedBackupId, qcow2Files);
    await expectRefused(restored, new RegExp(`backup ${failedBackupId} is failed, not complete`));
    expectNoTargets(restored.out);
  });

  it('a time before the first backup', async () => {
    const restored = await restore('2001-01-01T00:00:00Z', qcow2Files);
    await expectRefused(
      restored,
      new RegExp(
        `no complete backup of VM fvm at or before 2001-01-01T00:00:00.000Z: the first is ${vm.backups[0]!.id}`,
      ),
    );
    expectNoTargets(restored.out);
  });

  it('a disk the backup does not have', async () => {
    const restored = await restore('latest', qcow2Files, { disks: [2000, 2005] });
    await expectRefused(restored, new RegExp(`backup ${vm.backups[1]!.id} has no disk 2005 \\(it has 2000, 2001\\)`));
    expectNoTargets(restored.out);
  });

  it('an existing target file without overwrite: it keeps its content, and no other target is made', async () => {
    let before = { mtime: 0, sha: '' };
    const restored = await restore(vm.backups[1]!.id, qcow2Files, {
      prepare: (out) => {
        const existing = path.join(out, 'disk-2001.qcow2');
        execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', existing, String(16 * MiB)]);
        execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x77 0 1M', existing]);
        before = { mtime: statSync(existing).mtimeMs, sha: sha256(existing) };
      },
    });
    const existing = path.join(restored.out, 'disk-2001.qcow2');
    await expectRefused(
      restored,
      /target .*disk-2001\.qcow2 for disk 2001 already exists on this host \(set restore\.target\.overwrite: true/,
    );
    expect(statSync(existing).mtimeMs).toBe(before.mtime);
    expect(sha256(existing)).toBe(before.sha);
    expect(existsSync(path.join(restored.out, 'disk-2000.qcow2'))).toBe(false);
  });

  for (const format of ['qcow2', 'raw'] as const) {
    it(`with overwrite: true an existing ${format} target full of old data is replaced by the backup`, async () => {
      const { result, out } = await restore(
        vm.backups[1]!.id,
        (o) => ({ type: 'file', path: path.join(o, `disk-{key}.${format}`), format, overwrite: true }),
        {
          prepare: (o) => {
            const existing = path.join(o, `disk-2001.${format}`);
            execFileSync('qemu-img', ['create', '-q', '-f', format, existing, String(16 * MiB)]);
            execFileSync('qemu-io', ['-f', format, '-c', 'write -P 0x77 0 16M', existing]);
          },
        },
      );
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
      for (const key of [2000, 2001])
        expect(restoredDifference(vm.copies[1]![key]!, path.join(out, `disk-${key}.${format}`), format)).toBe('');
    });
  }

  it('an NBD target smaller than the disk: refused before anything is written to it', async () => {
    const disk = path.join(ws.dir, 'small-target.raw');
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', disk, String(8 * MiB)]);
    execFileSync('qemu-io', ['-f', 'raw', '-c', `write -P 0xff 0 ${8 * MiB}`, disk]);
    const before = sha256(disk);
    const server = await startQemuNbd({ file: disk, format: 'raw', exportName: 'small' });
    servers.push(server);
    const restored = await restore('latest', () => ({ type: 'nbd', url: server.url }), { disks: [2000] });
    await expectRefused(
      restored,
      /NBD target nbd:\/\/127\.0\.0\.1:\d+\/small is 8(\.0)? MiB, smaller than disk 2000 \(64(\.0)? MiB\)/,
    );
    await server.stop();
    expect(sha256(disk)).toBe(before);
  });

  it('once doctor recorded a file of its chain missing, backups shows a backup as not restorable; a restore of it is refused', async () => {
    const full = vm.backups[0]!.disks.find((disk) => disk.diskKey === 2001)!.file;
    const aside = `${full}.aside`;
    renameSync(full, aside);
    try {
      // The listing shows what is recorded of the files (docs/how-it-works.md#what-a-listing-reads).
      expect((await sendenseRun(['doctor', '--db', vm.db])).stdout).toContain(`its file ${full} says`);
      const listed = await listBackups(vm.db, vm.vm);
      for (const backup of vm.backups) {
        const row = listed.find((candidate) => candidate.id === backup.id)! as {
          restorable: boolean;
          notRestorableBecause?: string;
        };
        expect(row.restorable, backup.id).toBe(false);
        expect(row.notRestorableBecause).toContain(full);
      }
      const human = await sendenseRun(['backups', '--vm', vm.vm, '--db', vm.db]);
      expect(human.stdout).toContain(`no: file missing or unreadable: ${full}`);
      const restored = await restore('latest', qcow2Files);
      await expectRefused(
        restored,
        new RegExp(`the file of backup ${vm.backups[0]!.id} for disk 2001 is missing or unreadable`),
      );
      expectNoTargets(restored.out);
    } finally {
      renameSync(aside, full);
    }
    expect((await sendenseRun(['doctor', '--db', vm.db])).exitCode).toBe(0);
    const listed = await listBackups(vm.db, vm.vm);
    for (const backup of vm.backups)
      expect(listed.find((candidate) => candidate.id === backup.id)!.restorable).toBe(true);
  });
});
