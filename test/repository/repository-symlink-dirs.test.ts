// Whoever can write the repository can put a symlink where one of its folders should be (a VM's,
// a disk's, `protected/`): a run, a merge, forget, doctor and protect refuse it in one line and touch
// nothing through it, neither what it points to nor a kept point (docs/threat-model.md).

import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repositoryFingerprint } from '../files/guest-disk.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('repo-symlink-dirs-');

function expectOneLine(result: { exitCode: number; stdout: string; stderr: string }, what: string): void {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).not.toBe(0);
  const all = `${result.stdout}\n${result.stderr}`;
  expect(all).toContain(`${what} is a symlink inside the repository`);
  expect(all).not.toMatch(/\n\s+at .+\(.*:\d+:\d+\)/);
}

describe('a symlink in place of a folder of the repository', () => {
  it('a first backup refuses a VM folder that is a symlink: nothing is made or closed where it points', async () => {
    const disk = createDisk(path.join(ws.dir, 'first.qcow2'), 8 * MiB);
    writeDisk(disk, ['write -P 0x11 0 1M']);
    const outside = path.join(ws.dir, 'outside-first');
    mkdirSync(outside, { mode: 0o755 });
    mkdirSync(ws.repository, { recursive: true });
    symlinkSync(outside, path.join(ws.repository, 'vmfirst'));
    const plan = writePlan(ws.dir, {
      name: 'first-nightly',
      vm: 'vmfirst',
      disks: [{ key: 2000, path: disk }],
      repository: ws.repository,
      ports,
    });
    const run = await sendenseRun([plan, '--db', ws.db]);
    expectOneLine(run, path.join(ws.repository, 'vmfirst'));
    expect(readdirSync(outside)).toEqual([]);
    expect(statSync(outside).mode & 0o777).toBe(0o755);

    // doctor neither looks through the symlink nor calls the refused run's files left; once the
    // operator removes the symlink it has nothing more to say.
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(1);
    expect(doctor.stdout).toMatch(
      /files of backup \S+ \(failed\), if it made any: not looked for: .* is a symlink inside the repository .*remove that symlink/,
    );
    expect(readdirSync(outside)).toEqual([]);
    rmSync(path.join(ws.repository, 'vmfirst'));
    const clean = await sendenseRun(['doctor', '--db', ws.db]);
    expect(clean.exitCode, `${clean.stdout}\n${clean.stderr}`).toBe(0);
    expect(await listBackups(ws.db, 'vmfirst')).toEqual([expect.objectContaining({ status: 'failed' })]);
  });

  it('an incremental, forget, doctor and protect refuse a disk or protected folder that is a symlink; every point stays exact', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk.qcow2'), 16 * MiB);
    const plan = writePlan(ws.dir, {
      name: 'links-nightly',
      vm: 'vml',
      disks: [{ key: 2000, path: disk }],
      repository: ws.repository,
      ports,
    });
    const copies: string[] = [];
    for (const [i, pattern] of ['0x21', '0x22'].entries()) {
      writeDisk(disk, [`write -P ${pattern} ${i}M 2M`]);
      const run = await sendenseRun([plan, '--db', ws.db]);
      expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
      copies.push(keepCopy(disk, path.join(ws.dir, `copy-${i}.qcow2`)));
    }
    const points = await listBackups(ws.db, 'vml');
    expect(points).toHaveLength(2);
    const diskDir = path.join(ws.repository, 'vml', 'disk-2000');

    // The disk's folder swapped for a symlink to a copy of it elsewhere (another repository's, say).
    const kept = path.join(ws.dir, 'kept-disk-2000');
    const outside = path.join(ws.dir, 'outside-disk-2000');
    cpSync(diskDir, outside, { recursive: true });
    renameSync(diskDir, kept);
    symlinkSync(outside, diskDir);
    const before = repositoryFingerprint(outside);

    writeDisk(disk, ['write -P 0x23 4M 1M']);
    expectOneLine(await sendenseRun([plan, '--db', ws.db]), diskDir);
    expectOneLine(await sendenseRun(['forget', 'vml', '--point', points[0]!.id, '--db', ws.db]), diskDir);
    expect(repositoryFingerprint(outside)).toEqual(before);
    const complete = (await listBackups(ws.db, 'vml')).filter((point) => point.status === 'complete');
    expect(complete.map((point) => point.id)).toEqual(points.map((point) => point.id));

    // A merge killed before it changed a file, then the folder swapped: doctor neither finishes
    // nor rolls it back through the symlink; with the real folder back, it rolls it back.
    rmSync(diskDir);
    renameSync(kept, diskDir);
    const killed = await sendenseRun(['forget', 'vml', '--point', points[0]!.id, '--db', ws.db], {
      SENDENSE_TEST_KILL_AT: 'merge.planned',
    });
    expect(killed.exitCode, `${killed.stdout}\n${killed.stderr}`).not.toBe(0);
    renameSync(diskDir, kept);
    symlinkSync(outside, diskDir);
    const refused = await sendenseRun(['doctor', '--db', ws.db]);
    expect(refused.exitCode, `${refused.stdout}\n${refused.stderr}`).toBe(1);
    expect(refused.stdout).toContain(`${diskDir} is a symlink inside the repository`);
    expect(repositoryFingerprint(outside)).toEqual(before);
    rmSync(diskDir);
    renameSync(kept, diskDir);
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(doctor.stdout).toMatch(/interrupted merge .*roll it back.*: done/);

    // protect and unprotect: a `protected` folder that is a symlink to a folder holding a file of that name.
    const protectedDir = path.join(ws.repository, 'vml', 'protected');
    const elsewhere = path.join(ws.dir, 'outside-protected');
    mkdirSync(elsewhere);
    writeFileSync(path.join(elsewhere, points[1]!.id), 'not ours\n');
    symlinkSync(elsewhere, protectedDir);
    expectOneLine(await sendenseRun(['protect', 'vml', '--point', points[0]!.id, '--db', ws.db]), protectedDir);
    expectOneLine(await sendenseRun(['unprotect', 'vml', '--point', points[1]!.id, '--db', ws.db]), protectedDir);
    expect(readdirSync(elsewhere)).toEqual([points[1]!.id]);
    expect(existsSync(path.join(elsewhere, points[0]!.id))).toBe(false);

    // The real folders back: both points read exactly what the disk held when each was taken.
    rmSync(protectedDir);
    for (const [i, point] of points.entries()) expect(differenceBetween(point.disks[0]!.file, copies[i]!)).toBe('');
  });
});
