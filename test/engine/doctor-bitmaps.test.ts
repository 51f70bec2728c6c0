// doctor and the bitmaps a crash can leave on a source: one this database added that no chain
// will start from keeps recording every write for nothing, so doctor removes it; the newest
// backup's bitmap and bitmaps of other tools stay.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import {
  bitmapNames,
  createDisk,
  differenceBetween,
  keepCopy,
  portRangeForTestFile,
  writeDisk,
} from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const [first, last] = portRangeForTestFile(4);
const ws = useRunWorkspace('engine-doctor-bitmaps-');

it('doctor removes a superseded bitmap a crash left behind, keeps the newest and foreign ones; the next incremental is exact', async () => {
  const db = path.join(ws.dir, 'state.db');
  const disk = createDisk(path.join(ws.dir, 'd-2000.qcow2'), 32 * MiB);
  writeDisk(disk, ['write -P 0x41 0 4M']);
  const plan = writePlan(ws.dir, {
    name: 'dbm',
    vm: 'dbm',
    disks: [{ key: 2000, path: disk }],
    repository: path.join(ws.dir, 'repo'),
    ports: [first, last],
  });
  expect((await sendenseRun([plan, '--db', db])).exitCode).toBe(0);
  const [full] = await listBackups(db, 'dbm');
  writeDisk(disk, ['write -P 0x42 1M 1M']);
  expect((await sendenseRun([plan, '--db', db])).exitCode).toBe(0);
  const incremental = (await listBackups(db, 'dbm'))[1];
  const superseded = full.disks[0].changeId!;
  const newest = incremental.disks[0].changeId!;
  expect(bitmapNames(disk)).toEqual([newest]);

  // As if the process died between "complete" and removing the superseded bitmap.
  execFileSync('qemu-img', ['bitmap', '--add', disk, superseded]);
  execFileSync('qemu-img', ['bitmap', '--add', disk, 'another-tools-bitmap']);
  const dry = await sendenseRun(['doctor', '--dry-run', '--db', db]);
  expect(dry.stdout).toContain(`orphan bitmap ${superseded} on ${disk}: would remove it`);
  expect(bitmapNames(disk)).toEqual(['another-tools-bitmap', newest, superseded].sort());

  const doctor = await sendenseRun(['doctor', '--db', db]);
  expect(doctor.exitCode, doctor.stdout + doctor.stderr).toBe(0);
  expect(doctor.stdout).toContain(`orphan bitmap ${superseded} on ${disk}: remove it: done`);
  expect(bitmapNames(disk)).toEqual(['another-tools-bitmap', newest].sort());
  expect((await sendenseRun(['doctor', '--db', db])).stdout).toBe('doctor: nothing left behind');

  writeDisk(disk, ['write -P 0x43 20M 2M']);
  expect((await sendenseRun([plan, '--db', db])).exitCode).toBe(0);
  const latest = (await listBackups(db, 'dbm')).at(-1)!;
  expect(latest.type).toBe('incremental');
  expect(differenceBetween(latest.disks[0].file, keepCopy(disk, `${disk}.p3`))).toBe('');
});
