// A restore never deletes or damages a file it did not create: an existing target is replaced only
// once the restore succeeded, a target another program has open is refused, and no target inside
// a repository is ever written (the audit's restore over a newer full backup).

import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { startQemuNbd, useNbdServers } from '../support/qemu-nbd-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, sha256 } from '../support/vm-disks.js';
import { backUpVm, type BackedUpVm } from './restore-chain.js';
import { restoredDifference, writeRestorePlan, type RestoreTarget } from './restore-plan.js';

const MiB = 1024 * 1024;
const PORTS: [number, number] = [30240, 30259];
const ws = useRunWorkspace('restore-safety-', { per: 'file' });
const servers = useNbdServers();
let vm: BackedUpVm;
let restores = 0;

beforeAll(async () => {
  vm = await backUpVm(ws.dir, { vm: 'svm', ports: PORTS, points: 2 });
}, 120_000);

async function restore(
  target: (out: string) => RestoreTarget,
  options: { point?: string; disks?: number[]; db?: string; prepare?: (out: string) => void } = {},
) {
  restores += 1;
  const name = `safety-${restores}`;
  const out = path.join(ws.dir, name);
  mkdirSync(out, { recursive: true });
  options.prepare?.(out);
  const plan = writeRestorePlan(out, {
    name,
    vm: vm.vm,
    repository: vm.repository,
    ports: PORTS,
    point: options.point ?? 'latest',
    disks: options.disks,
    target: target(out),
  });
  return { result: await sendenseRun([plan, '--db', options.db ?? vm.db]), out };
}

interface FileFacts {
  readonly ino: number;
  readonly sha: string;
}
const facts = (file: string): FileFacts => ({ ino: statSync(file).ino, sha: sha256(file) });

// Every backup of the VM still complete, restorable, and its files byte for byte as before.
async function expectBackupsUntouched(before: ReadonlyMap<string, FileFacts>): Promise<void> {
  for (const backup of await listBackups(vm.db, vm.vm)) {
    expect(backup.status).toBe('complete');
    expect(backup.restorable).toBe(true);
  }
  for (const [file, was] of before) expect(facts(file), file).toEqual(was);
}

function repositoryFiles(): Map<string, FileFacts> {
  const files = vm.backups.flatMap((backup) => backup.disks.map((disk) => disk.file));
  return new Map(files.map((file) => [file, facts(file)]));
}

describe('restore safety', () => {
  it('a target inside the repository (a newer full backup, overwrite: true) is refused before anything runs', async () => {
    const before = repositoryFiles();
    const full = vm.backups[1]!.disks.find((disk) => disk.diskKey === 2000)!.file;
    // Named as such in the plan: validate refuses it (exit 2).
    const planned = await restore(() => ({ type: 'file', path: full, format: 'qcow2', overwrite: true }), {
      disks: [2000],
      point: vm.backups[0]!.id,
    });
    expect(planned.result.exitCode).toBe(2);
    expect(planned.result.stderr).toContain(`restore.target.path: ${full} is inside the repository ${vm.repository}`);
    // The plan names the repository through a symlink, so only the run can see it: refused too.
    const link = path.join(ws.dir, 'repo-link');
    execFileSync('ln', ['-sfn', vm.repository, link]);
    restores += 1;
    const out = path.join(ws.dir, `safety-${restores}`);
    mkdirSync(out);
    const plan = writeRestorePlan(out, {
      name: `safety-${restores}`,
      vm: vm.vm,
      repository: link,
      ports: PORTS,
      point: vm.backups[0]!.id,
      disks: [2000],
      target: { type: 'file', path: full, format: 'qcow2', overwrite: true },
    });
    const result = await sendenseRun([plan, '--db', vm.db, '--json']);
    expect(result.exitCode, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toContain(`target ${full} for disk 2000 is inside the repository ${vm.repository}`);
    // Nothing ran after resolve-point.
    expect(result.stdout).not.toContain('"step":"allocate-ports"');
    await expectBackupsUntouched(before);
    expect(readdirSync(path.dirname(full)).filter((name) => name.endsWith('.partial'))).toEqual([]);
  });

  it('a repository this state database has never seen is recognised by its marker', async () => {
    const before = repositoryFiles();
    // Another hub's repository (its own state database), next to ours.
    const otherRepository = path.join(ws.dir, 'other-repository');
    const disk = createDisk(path.join(ws.dir, 'other-disk.qcow2'), 8 * MiB);
    const otherPlan = writePlan(ws.dir, {
      name: 'other-backup',
      kind: 'backup',
      vm: 'othervm',
      disks: [{ key: 2000, path: disk }],
      repository: otherRepository,
      ports: PORTS,
    });
    const taken = await sendenseRun([otherPlan, '--db', path.join(ws.dir, 'other.db')]);
    expect(taken.exitCode, taken.stderr).toBe(0);
    const otherFiles = readdirSync(path.join(otherRepository, 'othervm', 'disk-2000'));
    const inside = path.join(otherRepository, 'othervm', 'disk-{key}', 'restored.qcow2');
    const { result } = await restore(() => ({ type: 'file', path: inside, format: 'qcow2' }), { disks: [2000] });
    expect(result.exitCode, result.stdout + result.stderr).toBe(1);
    expect(result.stderr).toContain(`is inside the repository ${otherRepository}`);
    expect(readdirSync(path.join(otherRepository, 'othervm', 'disk-2000'))).toEqual(otherFiles);
    await expectBackupsUntouched(before);
  });

  it('an existing target another program has open (a qemu-nbd serving it) is refused and keeps its bytes and inode', async () => {
    let existing = '';
    let before: FileFacts | undefined;
    const { result, out } = await restore(
      (o) => ({ type: 'file', path: path.join(o, 'disk-{key}.qcow2'), format: 'qcow2', overwrite: true }),
      {
        disks: [2000],
        prepare: (o) => {
          existing = path.join(o, 'disk-2000.qcow2');
          execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', existing, String(64 * MiB)]);
          execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x77 0 1M', existing]);
          before = facts(existing);
        },
      },
    );
    expect(result.exitCode).toBe(0); // nobody had it open: replaced (the control case)
    expect(facts(existing).ino).not.toBe(before!.ino);
    expect(restoredDifference(vm.copies[1]![2000]!, existing, 'qcow2')).toBe('');

    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x78 0 1M', existing]);
    const held = facts(existing);
    const server = await startQemuNbd({ file: existing, format: 'qcow2', exportName: 'vm-disk' });
    servers.push(server);
    const plan = path.join(out, `${path.basename(out)}.yaml`);
    const refused = await sendenseRun([plan, '--db', vm.db]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(`target ${existing} for disk 2000 is in use \\(open by pid ${server.pid} \\(qemu-nbd\\)\\)`),
    );
    await server.stop();
    expect(facts(existing)).toEqual(held);
    expect(readdirSync(out).sort()).toEqual(['disk-2000.qcow2', `${path.basename(out)}.yaml`]);
    expect(recordedProcesses(vm.db)).toEqual([]);
    expect(leasedPorts(vm.db)).toEqual([]);
  });

  it('restored files are private (0600) unless the plan gives a mode', async () => {
    const { result, out } = await restore((o) => ({
      type: 'file',
      path: path.join(o, 'disk-{key}.raw'),
      format: 'raw',
    }));
    expect(result.exitCode, result.stderr).toBe(0);
    for (const key of [2000, 2001]) expect(statSync(path.join(out, `disk-${key}.raw`)).mode & 0o777).toBe(0o600);
    const shared = await restore(
      (o) => ({ type: 'file', path: path.join(o, 'disk-{key}.raw'), format: 'raw', mode: '0640' }),
      { disks: [2001] },
    );
    expect(shared.result.exitCode, shared.result.stderr).toBe(0);
    expect(statSync(path.join(shared.out, 'disk-2001.raw')).mode & 0o777).toBe(0o640);
  });

  it('backup files are 0600 in 0700 directories, and the repository carries its marker', () => {
    for (const backup of vm.backups) {
      for (const disk of backup.disks) {
        expect(statSync(disk.file).mode & 0o777, disk.file).toBe(0o600);
        expect(statSync(path.dirname(disk.file)).mode & 0o777).toBe(0o700);
        expect(statSync(path.dirname(path.dirname(disk.file))).mode & 0o777).toBe(0o700);
      }
    }
    expect(statSync(vm.repository).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(vm.repository, '.sendense-repository')).mode & 0o777).toBe(0o600);
  });

  it('a backup file whose qcow2 header is destroyed is not restorable, and a restore of it is refused by name', async () => {
    const incremental = vm.backups[1]!.disks.find((disk) => disk.diskKey === 2001)!.file;
    const original = readFileSync(incremental).subarray(0, 8);
    const fd = openSync(incremental, 'r+');
    writeSync(fd, Buffer.alloc(8), 0, 8, 0);
    closeSync(fd);
    try {
      // The listing shows what is recorded of the files (docs/how-it-works.md#what-a-listing-reads): doctor records it.
      expect((await sendenseRun(['doctor', '--db', vm.db])).stdout).toContain(`its file ${incremental} says`);
      const listed = await listBackups(vm.db, vm.vm);
      expect(listed.find((backup) => backup.id === vm.backups[0]!.id)!.restorable).toBe(true);
      const damaged = listed.find((backup) => backup.id === vm.backups[1]!.id)! as {
        restorable: boolean;
        notRestorableBecause?: string;
      };
      expect(damaged.restorable).toBe(false);
      expect(damaged.notRestorableBecause).toBe(`qcow2 header destroyed (bad magic): ${incremental}`);
      const { result } = await restore((o) => ({ type: 'file', path: path.join(o, 'disk-{key}.raw'), format: 'raw' }), {
        point: vm.backups[1]!.id,
      });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(`the file of backup ${vm.backups[1]!.id} for disk 2001 is damaged`);
    } finally {
      const restoreFd = openSync(incremental, 'r+');
      writeSync(restoreFd, original, 0, 8, 0);
      closeSync(restoreFd);
    }
    expect((await sendenseRun(['doctor', '--db', vm.db])).exitCode).toBe(0);
    expect((await listBackups(vm.db, vm.vm)).every((backup) => backup.restorable)).toBe(true);
  });
});
