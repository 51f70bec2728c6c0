// `sendense-run restore VM …` (docs/commands.md#restore): an ad-hoc restore of a real point of a
// real repository, no plan file written. Into raw image files named by {key}; into NBD exports a
// qemu-nbd serves; the same file again is refused (exit 2 naming --overwrite, nothing changed) and
// replaced with --overwrite; the restored bytes are the point's, not the source's of now; history
// lists the runs under restore-VM. Bad targets, disks and ambiguous points are one line, exit 2,
// and nothing is written or recorded.

import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { imagesEqual, qemuImg } from '../support/images.js';
import { startQemuNbd, type TestNbdServer } from '../support/qemu-nbd-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, runStatuses, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, keepCopy, mtimeMs, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const ws = useRunWorkspace('adhoc-restore-', { per: 'file' });
const ports = portRangeForTestFile(10);
let point = '';
let atBackup: Record<number, string> = {};
let nbd: TestNbdServer | undefined;

beforeAll(async () => {
  const one = createDisk(path.join(ws.dir, 'db1.qcow2'), 24 * 1024 ** 2);
  const two = createDisk(path.join(ws.dir, 'db2.qcow2'), 16 * 1024 ** 2);
  writeDisk(one, ['write -P 0x11 0 3M', 'write -P 0x12 20M 1M']);
  writeDisk(two, ['write -P 0x21 1M 2M']);
  const plan = writePlan(ws.dir, {
    name: 'db-nightly',
    vm: 'db',
    disks: [
      { key: 1, path: one },
      { key: 2, path: two },
    ],
    repository: ws.repository,
    ports,
  });
  const ran = await sendenseRun(['--db', ws.db, 'run', plan]);
  expect(ran.exitCode, ran.stderr).toBe(0);
  point = (await listBackups(ws.db, 'db'))[0]!.id;
  atBackup = {
    1: keepCopy(one, path.join(ws.dir, 'db1-at-backup.qcow2')),
    2: keepCopy(two, path.join(ws.dir, 'db2-at-backup.qcow2')),
  };
  writeDisk(one, ['write -P 0x99 0 1M']);
}, 120_000);

afterAll(async () => {
  await nbd?.stop();
});

const restore = (...args: string[]) => sendenseRun(['--db', ws.db, 'restore', 'db', ...args]);

it('restores the latest point into raw files named by {key}; again is refused without --overwrite and replaced with it', async () => {
  const target = path.join(ws.dir, 'out', 'db-{key}.img');
  const first = await restore('--target', `file:${target}`, '--format', 'raw');
  expect(first.exitCode, first.stderr).toBe(0);
  for (const key of [1, 2]) {
    const file = path.join(ws.dir, 'out', `db-${key}.img`);
    expect(JSON.parse(qemuImg('info', '--output=json', file)).format).toBe('raw');
    expect(imagesEqual(file, atBackup[key]!)).toBe(true);
  }
  const before = mtimeMs(path.join(ws.dir, 'out', 'db-1.img'));
  const again = await restore('--target', `file:${target}`, '--format', 'raw');
  expect(again.exitCode).toBe(2);
  expect(again.stderr).toContain(
    `--overwrite: the target ${path.join(ws.dir, 'out', 'db-1.img')} for disk 1 already exists`,
  );
  expect(mtimeMs(path.join(ws.dir, 'out', 'db-1.img'))).toBe(before);

  const replaced = await restore('--target', `file:${target}`, '--format', 'raw', '--overwrite', '--point', point);
  expect(replaced.exitCode, replaced.stderr).toBe(0);
  expect(imagesEqual(path.join(ws.dir, 'out', 'db-1.img'), atBackup[1]!)).toBe(true);
  const history = await sendenseRun(['--db', ws.db, '--json', 'history', '--plan', 'restore-db']);
  const runs = history.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { status: string; backupId: string });
  expect(runs.map((run) => [run.status, run.backupId])).toEqual([
    ['succeeded', point],
    ['succeeded', point],
  ]);
}, 180_000);

it('restores one disk into an NBD export', async () => {
  const image = createDisk(path.join(ws.dir, 'nbd-target.qcow2'), 16 * 1024 ** 2);
  nbd = await startQemuNbd({ file: image, exportName: 'db2' });
  const result = await restore('--disk', '2', '--target', `nbd:${nbd.url}`);
  expect(result.exitCode, result.stderr).toBe(0);
  await nbd.stop();
  nbd = undefined;
  expect(imagesEqual(image, atBackup[2]!)).toBe(true);
}, 180_000);

it('refuses what it cannot do with one line and exit 2, writing and recording nothing', async () => {
  const runsBefore = (await runStatuses(ws.db)).length;
  const out = path.join(ws.dir, 'refused');
  const cases: [string[], RegExp][] = [
    [[], /needs --target file:PATH, dir:DIR, nbd:URL or domain:NAME/],
    [['--target', 'disk:/x'], /--target: must be file:PATH, dir:DIR, nbd:URL or domain:NAME/],
    [['--target', 'domain:db-copy'], /--target domain: needs --path DIR/],
    [['--target', `dir:${out}`, '--start'], /--start goes with a domain target/],
    [['--target', 'domain:db-copy', '--path', out, '--network', 'bridge'], /--network: must be none or keep/],
    [
      ['--target', 'domain:db-copy', '--path', out, '--overwrite'],
      /--overwrite: a domain target never replaces a file/,
    ],
    [['--target', 'file:relative/{key}.qcow2'], /--target: the target must be an absolute path/],
    [['--target', `file:${path.join(ws.repository, '{key}.qcow2')}`], /inside the repository/],
    [['--target', `file:${path.join(out, 'one.qcow2')}`], /must contain \{key\}.*2 disks are restored/],
    [['--disk', '7', '--target', `dir:${out}`], /--disk 7: backup .* has no such disk \(it has 1, 2\)/],
    [['--point', 'no-such-point', '--target', `dir:${out}`], /there is no backup 'no-such-point' of VM db/],
    [['--target', `nbd:${'http://x'}`], /restore\.target\.url/],
  ];
  for (const [args, says] of cases) {
    const result = await restore(...args);
    expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(2);
    expect(result.stderr, args.join(' ')).toMatch(says);
    expect(result.stderr).not.toMatch(/\bat .*\.(js|ts):\d+/);
  }
  expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  expect((await runStatuses(ws.db)).length).toBe(runsBefore);
}, 120_000);
