// A repository tampered with or damaged in the ways verify's digests alone do not see: a file whose
// header names another backing file, a manifest deleted beside a flipped byte, manifests crafted to
// point outside the repository or malformed. Nothing is restored or built on with wrong data,
// nothing outside the repository is touched, and a damage mark is cleared once the data matches.

import { execFileSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { restoredDifference, writeRestorePlan } from '../restore/restore-plan.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, type BackupRow } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { backUpThreePoints, flipBit, type Chain } from './chain-fixture.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('tampered-repository-', { per: 'file' });
let chain: Chain;
let backups: BackupRow[];
let pristine: string;

// The backing file name a qcow2 header holds (qcow2 spec "Header": offset at 8, size at 16).
function backingName(file: string): { offset: number; name: string } {
  const header = Buffer.alloc(24);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, header, 0, 24, 0);
    const offset = Number(header.readBigUInt64BE(8));
    const name = Buffer.alloc(header.readUInt32BE(16));
    readSync(fd, name, 0, name.length, offset);
    return { offset, name: name.toString('utf8') };
  } finally {
    closeSync(fd);
  }
}

// Rewrites the name in place: the same length, so nothing else in the header moves.
function setBackingName(file: string, name: string): void {
  const { offset, name: before } = backingName(file);
  expect(Buffer.byteLength(name)).toBe(Buffer.byteLength(before));
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, Buffer.from(name), 0, Buffer.byteLength(name), offset);
  } finally {
    closeSync(fd);
  }
}

function manifestOf(file: string): string {
  return file.replace(/\.qcow2$/, '.json');
}

function restorePlan(name: string, point: string): { plan: string; restored: string } {
  const restored = path.join(ws.dir, `${name}-{key}.qcow2`);
  return {
    plan: writeRestorePlan(ws.dir, {
      name,
      vm: 'vmv',
      repository: ws.repository,
      ports,
      point,
      target: { type: 'file', path: restored, format: 'qcow2' },
    }),
    restored,
  };
}

async function statuses(): Promise<string[]> {
  return (await listBackups(ws.db, 'vmv')).map((backup) => backup.status);
}

function expectOneLine(stderr: string): void {
  expect(stderr).not.toMatch(/TypeError|internal error|^\s+at /m);
}

describe('a tampered repository', () => {
  beforeAll(async () => {
    chain = await backUpThreePoints(ws.dir, ws.repository, ws.db, ports);
    backups = await listBackups(ws.db, 'vmv');
    pristine = path.join(ws.dir, 'state.db.pristine');
    copyFileSync(ws.db, pristine);
  }, 240_000);

  it('a header rewritten to name the grandparent: restores and files refuse it, verify marks it damaged, the point before restores exactly', async () => {
    copyFileSync(pristine, ws.db);
    const file = backups[2]!.disks[0]!.file;
    const original = backingName(file).name;
    expect(original).toBe(path.basename(backups[1]!.disks[0]!.file));
    setBackingName(file, path.basename(backups[0]!.disks[0]!.file));
    try {
      const { plan, restored } = restorePlan('relinked', 'latest');
      const restore = await sendenseRun([plan, '--db', ws.db]);
      expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(1);
      expect(restore.stderr).toContain(
        `the file of backup ${backups[2]!.id} for disk 2000 (${file}) is not linked to its parent`,
      );
      expect(existsSync(restored.replace('{key}', '2000'))).toBe(false);

      const files = await sendenseRun(['files', 'vmv', '--db', ws.db]);
      expect(files.exitCode, `${files.stdout}\n${files.stderr}`).toBe(1);
      expect(files.stderr).toContain('is not linked to its parent');

      const verify = await sendenseRun(['verify', '--db', ws.db]);
      expect(verify.exitCode, `${verify.stdout}\n${verify.stderr}`).toBe(1);
      expect(verify.stdout).toContain(
        `DAMAGED backup ${backups[2]!.id} of vmv: disk 2000: not linked to its parent: its header names backing file '${path.basename(backups[0]!.disks[0]!.file)}'`,
      );
      expect(await statuses()).toEqual(['complete', 'complete', 'damaged']);

      const before = restorePlan('before-relinked', backups[1]!.id);
      const good = await sendenseRun([before.plan, '--db', ws.db]);
      expect(good.exitCode, `${good.stdout}\n${good.stderr}`).toBe(0);
      for (const key of [2000, 2001]) {
        expect(restoredDifference(chain.copies[1]![key]!, before.restored.replace('{key}', String(key)), 'qcow2')).toBe(
          '',
        );
        rmSync(before.restored.replace('{key}', String(key)));
      }
    } finally {
      setBackingName(file, original);
    }
  });

  it('a deleted manifest beside a flipped byte is damage: verify marks it, a verified restore refuses it', async () => {
    copyFileSync(pristine, ws.db);
    const file = backups[1]!.disks[0]!.file;
    renameSync(manifestOf(file), `${manifestOf(file)}.aside`);
    flipBit(file, 'data cluster');
    try {
      const verify = await sendenseRun(['verify', '--db', ws.db]);
      expect(verify.exitCode, `${verify.stdout}\n${verify.stderr}`).toBe(1);
      expect(verify.stdout).toContain(
        `DAMAGED backup ${backups[1]!.id} of vmv: disk 2000: its manifest ${manifestOf(file)} is missing`,
      );
      expect(await statuses()).toEqual(['complete', 'damaged', 'damaged']);

      copyFileSync(pristine, ws.db);
      const { plan, restored } = restorePlan('unvouched', backups[1]!.id);
      const restore = await sendenseRun([plan, '--db', ws.db]);
      expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(1);
      expect(restore.stderr).toContain(`manifest ${manifestOf(file)} is missing`);
      expect(existsSync(restored.replace('{key}', '2000'))).toBe(false);
    } finally {
      flipBit(file, 'data cluster');
      renameSync(`${manifestOf(file)}.aside`, manifestOf(file));
    }
  });

  it('malformed digests are one finding: verify goes on with the other disks and backups, a restore says so in one line', async () => {
    copyFileSync(pristine, ws.db);
    const manifest = manifestOf(backups[1]!.disks[0]!.file);
    const text = readFileSync(manifest, 'utf8');
    writeFileSync(manifest, JSON.stringify({ ...JSON.parse(text), digests: { algorithm: 'xxh64' } }));
    try {
      const verify = await sendenseRun(['verify', '--db', ws.db]);
      expect(verify.exitCode, `${verify.stdout}\n${verify.stderr}`).toBe(1);
      expectOneLine(verify.stderr);
      expect(verify.stdout).toContain(`backup ${backups[0]!.id} disk 2000: ok`);
      expect(verify.stdout).toContain(`backup ${backups[1]!.id} disk 2001: ok`);
      expect(verify.stdout).toContain(
        `DAMAGED backup ${backups[1]!.id} of vmv: disk 2000: manifest ${manifest} is refused: digests must hold an algorithm, data and zero ranges`,
      );

      copyFileSync(pristine, ws.db);
      const { plan } = restorePlan('malformed', 'latest');
      const restore = await sendenseRun([plan, '--db', ws.db]);
      expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(1);
      expectOneLine(restore.stderr);
      expect(restore.stderr).toContain(`manifest ${manifest} is refused`);
    } finally {
      writeFileSync(manifest, text);
    }
  });

  it('a damage mark is cleared by a verify that finds the data matching again, in its output and history', async () => {
    copyFileSync(pristine, ws.db);
    const file = backups[1]!.disks[1]!.file;
    flipBit(file, 'data cluster');
    try {
      expect((await sendenseRun(['verify', '--db', ws.db])).exitCode).toBe(1);
      expect(await statuses()).toEqual(['complete', 'damaged', 'damaged']);
    } finally {
      flipBit(file, 'data cluster');
    }
    const again = await sendenseRun(['verify', '--db', ws.db]);
    expect(again.exitCode, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect(again.stdout).toContain(`CLEARED backup ${backups[1]!.id} of vmv`);
    expect(again.stdout).toContain(`CLEARED backup ${backups[2]!.id} of vmv`);
    expect(again.stdout).toContain('2 damage mark(s) cleared');
    expect(await statuses()).toEqual(['complete', 'complete', 'complete']);
    const history = await sendenseRun(['history', '--db', ws.db]);
    expect(history.stdout).toContain(`note: damage cleared: ${backups[1]!.id}, ${backups[2]!.id}`);
  });

  // Adds a backup to the repository: after the tests that share the three points.
  it('the next incremental on a chain with a relinked file marks it damaged and takes a full', async () => {
    copyFileSync(pristine, ws.db);
    const file = backups[2]!.disks[1]!.file;
    const original = backingName(file).name;
    setBackingName(file, path.basename(backups[0]!.disks[1]!.file));
    try {
      const next = await sendenseRun([chain.plan, '--db', ws.db]);
      expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
      expect(`${next.stdout}${next.stderr}`).toContain(`backup ${backups[2]!.id} is now marked damaged`);
      const after = await listBackups(ws.db, 'vmv');
      expect(after.map((backup) => backup.status)).toEqual(['complete', 'complete', 'damaged', 'complete']);
      expect(after[3]!.type).toBe('full');
    } finally {
      setBackingName(file, original);
    }
  });

  // Last: its prune merges the points the tests above share.
  it('crafted manifests (a file outside, a traversing VM name, a stray copy) are refused by catalog import, which imports the rest; prune touches nothing outside', async () => {
    const outside = path.join(ws.dir, 'outside');
    mkdirSync(outside, { recursive: true });
    const victim = path.join(outside, 'x.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', victim, '1M']);
    const victimBytes = readFileSync(victim);
    const diskDir = path.dirname(backups[2]!.disks[0]!.file);
    const newest = JSON.parse(readFileSync(manifestOf(backups[2]!.disks[0]!.file), 'utf8')) as Record<string, unknown>;
    const crafted = {
      // A newer point on the chain whose file is a host file outside the repository.
      [path.join(diskDir, '20991231-000000-beef.json')]: {
        ...newest,
        backupId: '20991231-000000-beef',
        parentId: backups[2]!.id,
        parentFile: path.basename(backups[2]!.disks[0]!.file),
        startedAt: '2099-12-31T00:00:00.000Z',
        file: `../../../outside/x.qcow2`,
      },
      [path.join(diskDir, '20991231-000001-beef.json')]: {
        ...newest,
        backupId: '20991231-000001-beef',
        vm: '../../outside',
        file: '20991231-000001-beef.qcow2',
      },
      // A copy an operator left beside the real one.
      [path.join(diskDir, `${backups[0]!.id}-copy.json`)]: JSON.parse(
        readFileSync(manifestOf(backups[0]!.disks[0]!.file), 'utf8'),
      ) as unknown,
    };
    for (const [file, manifest] of Object.entries(crafted)) writeFileSync(file, JSON.stringify(manifest));
    const fresh = path.join(ws.dir, 'fresh.db');
    try {
      const imported = await sendenseRun(['catalog', 'import', ws.repository, '--db', fresh]);
      expect(imported.exitCode, `${imported.stdout}\n${imported.stderr}`).toBe(0);
      expectOneLine(imported.stderr);
      const known = await listBackups(ws.db, 'vmv');
      expect(imported.stdout).toContain(`imported ${known.length} backup(s)`);
      expect(imported.stdout).toContain(
        '20991231-000000-beef.json is refused: file "../../../outside/x.qcow2" is not 20991231-000000-beef.qcow2',
      );
      expect(imported.stdout).toContain('20991231-000001-beef.json is refused: vm "../../outside" is not a VM name');
      expect(imported.stdout).toContain(
        `${backups[0]!.id}-copy.json is refused: it describes backup ${backups[0]!.id} but is named ${backups[0]!.id}-copy.json`,
      );
      expect((await listBackups(fresh, 'vmv')).map((backup) => backup.id)).toEqual(known.map((backup) => backup.id));

      // Retention over the imported catalog: a merge and a removal, never outside the repository.
      const retention = path.join(ws.dir, 'keep-one.yaml');
      writeFileSync(retention, readFileSync(chain.plan, 'utf8') + '\nretention:\n  keepLast: 1\n');
      const pruned = await sendenseRun(['prune', retention, '--db', fresh]);
      expect(pruned.exitCode, `${pruned.stdout}\n${pruned.stderr}`).toBe(0);
      expect(readFileSync(victim).equals(victimBytes)).toBe(true);
      expect(statSync(outside).isDirectory()).toBe(true);
    } finally {
      for (const file of Object.keys(crafted)) rmSync(file, { force: true });
    }
  });
});
