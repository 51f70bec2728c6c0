// Our own partition table reader (src/files/fast/partition-table.ts) on disks partitioned by the
// real tools: GPT by sgdisk, MBR by sfdisk (with an extended partition), a filesystem on the whole
// disk (its boot sector ends in 55AA too), and a GPT whose entry count was made absurd.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, readSync, rmSync, closeSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { readPartitionTable, type ReadDisk } from '../../src/files/fast/partition-table.js';

const MiB = 1024 * 1024;
const dir = mkdtempSync(path.join(tmpdir(), 'partition-table-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function disk(name: string, mib: number): string {
  const file = path.join(dir, name);
  execFileSync('truncate', ['-s', `${mib * MiB}`, file]);
  return file;
}

async function tableOf(file: string) {
  const fd = openSync(file, 'r');
  try {
    const read: ReadDisk = async (offset, length) => {
      const buffer = Buffer.alloc(length);
      readSync(fd, buffer, 0, length, offset);
      return buffer;
    };
    return await readPartitionTable(read, Number(execFileSync('stat', ['-c', '%s', file], { encoding: 'utf8' })));
  } finally {
    closeSync(fd);
  }
}

// sfdisk's own view: [number, start sector, sectors].
function sfdiskView(file: string): [number, number, number][] {
  const json = JSON.parse(execFileSync('sfdisk', ['--json', file], { encoding: 'utf8' })) as {
    partitiontable: { partitions: { node: string; start: number; size: number }[] };
  };
  return json.partitiontable.partitions.map((p) => [Number(/(\d+)$/.exec(p.node)![1]), p.start, p.size]);
}

it('reads a GPT made by sgdisk: each partition numbered as Linux does, at its offset and size', async () => {
  const file = disk('gpt.raw', 64);
  execFileSync('sgdisk', ['-n', '1:2048:+20M', '-t', '1:8300', '-n', '3:0:+10M', '-t', '3:8e00', file], {
    stdio: 'ignore',
  });
  const table = await tableOf(file);
  expect(table.kind).toBe('gpt');
  expect(table.partitions.map((p) => [p.number, p.offset / 512, p.size / 512])).toEqual(sfdiskView(file));
  expect(table.partitions.map((p) => p.type)).toEqual([
    '0fc63daf-8483-4772-8e79-3d69d8477de4',
    'e6d6d379-f507-44c2-a23c-238f2a3df928',
  ]);
});

it('reads an MBR made by sfdisk: primaries with their type, an extended one said but not followed', async () => {
  const file = disk('mbr.raw', 64);
  execFileSync('sfdisk', [file], { input: 'label: dos\n2048,20M,83\n,10M,7\n,20M,5\n,5M,83\n,5M,83\n', stdio: 'pipe' });
  const table = await tableOf(file);
  expect(table.kind).toBe('msdos');
  expect(table.hasLogical).toBe(true);
  const primaries = sfdiskView(file).filter(([number]) => number < 5 && number !== 3);
  expect(sfdiskView(file).map(([number]) => number)).toEqual([1, 2, 3, 4, 5]);
  expect(table.partitions.map((p) => [p.number, p.offset / 512, p.size / 512])).toEqual(primaries);
  expect(table.partitions.map((p) => p.type)).toEqual(['83', '07', '83']);
});

it('finds no table on a filesystem made on the whole disk, nor on an empty disk', async () => {
  const fat = disk('fat.raw', 16);
  execFileSync('mkfs.vfat', [fat], { stdio: 'ignore' });
  expect(await tableOf(fat)).toEqual({ kind: 'none', partitions: [], hasLogical: false });
  expect(await tableOf(disk('empty.raw', 1))).toEqual({ kind: 'none', partitions: [], hasLogical: false });
});

it('does not believe a GPT header whose entry count is absurd', async () => {
  const file = disk('bad-gpt.raw', 8);
  execFileSync('sgdisk', ['-n', '1:2048:0', file], { stdio: 'ignore' });
  const fd = openSync(file, 'r+');
  const count = Buffer.alloc(4);
  count.writeUInt32LE(0xffffffff);
  writeSync(fd, count, 0, 4, 512 + 80);
  closeSync(fd);
  expect(await tableOf(file)).toMatchObject({ partitions: [] });
});
