// A merge or a run killed between writing a manifest's temp file and renaming it leaves
// `.<id>.json.<pid>.tmp` or `.<id>.json.merge.<pid>.tmp` beside a backup that is kept. doctor
// deletes those whose writer is gone and that are a minute old; a live writer's temp and a fresh
// one stay; the backup itself is untouched and restores exactly.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoredDifference, writeRestorePlan } from '../restore/restore-plan.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, keepCopy, portRangeForTestFile, sha256, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('doctor-temps-');

// A PID that is certainly not running: a child that has exited and been reaped.
function deadPid(): number {
  return Number(execFileSync('sh', ['-c', 'sh -c "echo \\$\\$"'], { encoding: 'utf8' }).trim());
}

describe('doctor and manifest temp files beside kept backups', () => {
  it("deletes a dead writer's old temps (run and merge), keeps a live writer's and a fresh one, and the backup restores exactly", async () => {
    const disk = createDisk(path.join(ws.dir, 'disk.qcow2'), 16 * MiB);
    writeDisk(disk, ['write -P 0x3c 0 3M']);
    const plan = writePlan(ws.dir, {
      name: 'temps-nightly',
      vm: 'vmt',
      disks: [{ key: 2000, path: disk }],
      repository: ws.repository,
      ports,
    });
    const run = await sendenseRun([plan, '--db', ws.db]);
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
    const copy = keepCopy(disk, path.join(ws.dir, 'copy.qcow2'));
    const [backup] = await listBackups(ws.db, 'vmt');
    const file = backup!.disks[0]!.file;
    const dir = path.dirname(file);
    const id = path.basename(file, '.qcow2');
    const before = { data: sha256(file), manifest: readFileSync(path.join(dir, `${id}.json`), 'utf8') };

    const dead = deadPid();
    const old = Date.now() / 1000 - 300;
    const plant = (name: string, age: 'old' | 'fresh') => {
      const temp = path.join(dir, name);
      writeFileSync(temp, '{"format":"sendense-backup-manifest"');
      if (age === 'old') utimesSync(temp, old, old);
      return temp;
    };
    const deadRun = plant(`.${id}.json.${dead}.tmp`, 'old');
    const deadMerge = plant(`.${id}.json.merge.${dead}.tmp`, 'old');
    const liveWriter = plant(`.${id}.json.${process.pid}.tmp`, 'old');
    const fresh = plant(`.${id}.json.merge.${dead + 1}.tmp`, 'fresh');

    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(doctor.stdout).toContain(
      `unfinished manifest ${deadRun} (its writer, pid ${dead}, is gone): delete it: done`,
    );
    expect(doctor.stdout).toContain(
      `unfinished manifest ${deadMerge} (its writer, pid ${dead}, is gone): delete it: done`,
    );
    expect([existsSync(deadRun), existsSync(deadMerge), existsSync(liveWriter), existsSync(fresh)]).toEqual([
      false,
      false,
      true,
      true,
    ]);
    expect({ data: sha256(file), manifest: readFileSync(path.join(dir, `${id}.json`), 'utf8') }).toEqual(before);

    const restored = path.join(ws.dir, 'restored-{key}.qcow2');
    const restorePlan = writeRestorePlan(ws.dir, {
      name: 'restore-temps',
      vm: 'vmt',
      repository: ws.repository,
      ports,
      point: 'latest',
      target: { type: 'file', path: restored, format: 'qcow2' },
    });
    const restore = await sendenseRun([restorePlan, '--db', ws.db]);
    expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(0);
    expect(restoredDifference(copy, restored.replace('{key}', '2000'), 'qcow2')).toBe('');
  });
});
