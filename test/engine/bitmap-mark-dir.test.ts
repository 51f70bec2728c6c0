// A qemu source's new bitmap is marked at the disk's end from a scratch image in a private temp
// directory on the node (docs/how-it-works.md#change-tracking-by-source), named for the run and
// recorded before it exists. A run killed with -9 while marking leaves it behind, and doctor removes
// it at once; a directory no run recorded (another run's mark in progress) stays. (Found by the
// fault campaign: it used to wait 10 minutes for the next mark.)

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { killAtEnv } from '../../src/crash-points.js';
import { addMarkedBitmaps } from '../../src/qemu/bitmaps.js';
import { runLocal } from '../../src/qemu/command-runner.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('mark-dir-');

it('a run killed while marking its bitmap leaves its scratch directory: doctor removes it, another stays', async () => {
  const disk = createDisk(path.join(ws.dir, 'disk.qcow2'), 16 * MiB);
  writeDisk(disk, ['write -P 0x5a 0 2M']);
  const plan = writePlan(ws.dir, {
    name: 'mark-nightly',
    vm: 'markvm',
    disks: [{ key: 2000, path: disk }],
    repository: ws.repository,
    ports,
  });
  // The runs' own temp directory: what is in it is theirs alone.
  const tmp = path.join(ws.dir, 'tmp');
  mkdirSync(tmp, { mode: 0o700 });
  const markDirs = () => readdirSync(tmp).filter((name) => name.startsWith('sendense-bitmap-mark.'));

  const killed = await sendenseRun([plan, '--db', ws.db], { TMPDIR: tmp, ...killAtEnv('qemu.bitmap-marking') });
  expect(killed.exitCode, `${killed.stdout}\n${killed.stderr}`).not.toBe(0);
  const [left, ...more] = markDirs();
  expect(more).toEqual([]);
  expect(readdirSync(path.join(tmp, left!))).toEqual([`mark-${16 * MiB}.qcow2`]);

  expect(left).toMatch(/^sendense-bitmap-mark\.run-[0-9a-f-]+$/);
  // Meanwhile another mark has just made its directory (no run of this state recorded it).
  mkdirSync(path.join(tmp, 'sendense-bitmap-mark.inprogress'), { mode: 0o700 });

  const doctor = await sendenseRun(['doctor', '--db', ws.db], { TMPDIR: tmp });
  expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
  expect(doctor.stdout).toContain(`scratch directory ${path.join(tmp, left!)}`);
  expect(markDirs()).toEqual(['sendense-bitmap-mark.inprogress']);
  const next = await sendenseRun([plan, '--db', ws.db], { TMPDIR: tmp });
  expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
  expect(markDirs()).toEqual(['sendense-bitmap-mark.inprogress']);
}, 120_000);

it('a mark directory already there (someone put it in the way) is neither used nor removed, nor left to doctor', async () => {
  const disk = createDisk(path.join(ws.dir, 'inway.qcow2'), 16 * MiB);
  const tmp = path.join(ws.dir, 'tmp-inway');
  const inWay = path.join(tmp, 'sendense-bitmap-mark.run-x');
  mkdirSync(inWay, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(inWay, 'theirs'), 'not ours');
  const records: string[] = [];
  const place = {
    tag: 'run-x',
    thisHost: true,
    record: async (dir: string) => void records.push(dir),
    forget: async (dir: string) => void records.splice(records.indexOf(dir), 1),
  };
  let added = false;
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  try {
    const marked = [{ file: disk, name: 'b1', size: 16 * MiB, added: () => (added = true) }];
    await expect(addMarkedBitmaps(marked, runLocal, place)).rejects.toThrow(
      /could not be made to mark a bitmap \(it must not exist yet\)/,
    );
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
  expect(readFileSync(path.join(inWay, 'theirs'), 'utf8')).toBe('not ours');
  expect(readdirSync(inWay)).toEqual(['theirs']);
  expect(records).toEqual([]);
  // The bitmap was added (its undo registered): the run's failure removes it.
  expect(added).toBe(true);
});
