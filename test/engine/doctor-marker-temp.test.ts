// The repository marker is written by the first backup into a repository, through a temp file
// linked into place (docs/how-it-works.md#what-is-recorded-and-where). A first backup killed with
// the temp written and not linked leaves `.sendense-repository.<pid>-<hex>.tmp`: doctor removes it
// at once, as that dead run's, and the next run makes the marker and backs up exactly. A run into a
// repository that has its marker writes no temp file at all, so a kill there cannot leave one
// (kill-anywhere once found one left by a kill at the start of create-qcow2, under load).

import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoredDifference, writeRestorePlan } from '../restore/restore-plan.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { killAtEnv } from '../../src/crash-points.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('doctor-marker-');
const KILL_AT_MARKER_TEMP = killAtEnv('repository.marker-temp-written');
const MARKER_TEMP = /^\.sendense-repository\.\d+-[0-9a-f]{8}\.tmp$/;

function repositoryTop(): string[] {
  return readdirSync(ws.repository).sort();
}

describe('doctor and the repository marker of a first backup killed while writing it', () => {
  it("removes the dead run's marker temp at once; the next run makes the marker and restores exactly", async () => {
    const disk = createDisk(path.join(ws.dir, 'disk.qcow2'), 16 * MiB);
    writeDisk(disk, ['write -P 0x5a 0 2M']);
    const plan = writePlan(ws.dir, {
      name: 'marker-nightly',
      vm: 'vmm',
      disks: [{ key: 2000, path: disk }],
      repository: ws.repository,
      ports,
    });

    const killed = await sendenseRun([plan, '--db', ws.db], KILL_AT_MARKER_TEMP);
    expect(killed.exitCode, `${killed.stdout}\n${killed.stderr}`).not.toBe(0);
    const temps = repositoryTop().filter((name) => MARKER_TEMP.test(name));
    expect(temps).toHaveLength(1);
    expect(repositoryTop()).not.toContain('.sendense-repository');

    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(doctor.stdout).toMatch(
      new RegExp(
        `unfinished repository marker ${path.join(ws.repository, temps[0]!).replace(/[.]/g, '\\.')} \\(run \\S+, killed before it was in place\\): delete it: done`,
      ),
    );
    expect(repositoryTop().filter((name) => MARKER_TEMP.test(name))).toEqual([]);
    const again = await sendenseRun(['doctor', '--db', ws.db]);
    expect(again.stdout, 'a second doctor finds nothing').toContain('nothing left behind');

    const run = await sendenseRun([plan, '--db', ws.db]);
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(repositoryTop()).toEqual(['.sendense-repository', 'vmm']);
    const copy = keepCopy(disk, path.join(ws.dir, 'copy.qcow2'));
    const restored = path.join(ws.dir, 'restored-{key}.qcow2');
    const restorePlan = writeRestorePlan(ws.dir, {
      name: 'restore-marker',
      vm: 'vmm',
      repository: ws.repository,
      ports,
      point: 'latest',
      target: { type: 'file', path: restored, format: 'qcow2' },
    });
    const restore = await sendenseRun([restorePlan, '--db', ws.db]);
    expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(0);
    expect(restoredDifference(copy, restored.replace('{key}', '2000'), 'qcow2')).toBe('');
  });

  it('writes no marker temp into a repository that has its marker: the kill point is never reached', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk.qcow2'), 16 * MiB);
    writeDisk(disk, ['write -P 0x11 0 1M']);
    const plan = writePlan(ws.dir, {
      name: 'marker-nightly',
      vm: 'vmm',
      disks: [{ key: 2000, path: disk }],
      repository: ws.repository,
      ports,
    });
    const first = await sendenseRun([plan, '--db', ws.db]);
    expect(first.exitCode, `${first.stdout}\n${first.stderr}`).toBe(0);
    writeDisk(disk, ['write -P 0x22 4M 1M']);
    const second = await sendenseRun([plan, '--db', ws.db], KILL_AT_MARKER_TEMP);
    expect(second.exitCode, `${second.stdout}\n${second.stderr}`).toBe(0);
    expect((await listBackups(ws.db, 'vmm')).map((backup) => [backup.type, backup.status])).toEqual([
      ['full', 'complete'],
      ['incremental', 'complete'],
    ]);
    expect(repositoryTop()).toEqual(['.sendense-repository', 'vmm']);
  });
});
