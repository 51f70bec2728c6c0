// A 2-disk VM backed up N times into one chain (scattered writes, zero-writes and discards before
// each point), kept copies of the source at every point, and the checks every prune must pass:
// each point left reads exactly as the source did when it was taken, and verify finds no damage.

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { stringify } from 'yaml';
import { SqliteDatabase as Database } from '../../src/store/sqlite-driver.js';
import { openStore, type Backup } from '../../src/store/index.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { createDisk, keepCopy, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;

export interface PointChain {
  readonly vm: string;
  readonly dir: string;
  readonly db: string;
  readonly repository: string;
  readonly ports: readonly [number, number];
  readonly disks: readonly { readonly key: number; readonly path: string }[];
  /** Backup id of each point, oldest first. */
  readonly ids: string[];
  /** copies[id][key]: the source when that point was taken. */
  readonly copies: Record<string, Record<number, string>>;
}

// `file`: the plan file's name; `plan`: the plan's name, by default the plan that made the points
// (a plan's retention applies to its own points only: docs/how-it-works.md#plans-that-share-a-vm).
export function writeRetentionPlan(
  chain: PointChain,
  retention: Record<string, number> | undefined,
  file = 'retention',
  plan = `${chain.vm}-build`,
): string {
  const doc = {
    version: 1,
    kind: 'incremental',
    name: plan,
    timezone: 'UTC',
    vm: {
      name: chain.vm,
      source: { type: 'qemu', disks: chain.disks.map((disk) => ({ key: disk.key, path: disk.path })) },
    },
    repository: { path: chain.repository },
    nbd: { ports: `${chain.ports[0]}-${chain.ports[1]}` },
    ...(retention ? { retention } : {}),
  };
  const written = path.join(chain.dir, `${file}.yaml`);
  writeFileSync(written, stringify(doc));
  return written;
}

// The change before point `i` (0: the first data), different on each disk.
function changes(i: number): [string[], string[]] {
  if (i === 0) return [['write -P 0x01 0 8M', 'write -P 0x02 20M 4M'], ['write -P 0x03 0 4M']];
  const disk0 = [
    `write -P 0x${(0x10 + i).toString(16)} ${(i * 5) % 30}M 256k`,
    `write -P 0x${(0x30 + i).toString(16)} ${(i * 7 + 3) % 31}M 64k`,
    `write -z ${(i * 3) % 30}M 128k`,
  ];
  if (i % 2 === 1) disk0.push(`discard ${(i * 11) % 30}M 192k`);
  const disk1 = [`write -P 0x${(0x50 + i).toString(16)} ${i % 15}M 128k`, `write -z ${(i + 7) % 15}M 64k`];
  return [disk0, disk1];
}

export async function backUpPoints(
  dir: string,
  db: string,
  repository: string,
  ports: readonly [number, number],
  count: number,
  vm = 'vmp',
): Promise<PointChain> {
  const disks = [
    { key: 2000, path: createDisk(path.join(dir, 'disk0.qcow2'), 32 * MiB) },
    { key: 2001, path: createDisk(path.join(dir, 'disk1.qcow2'), 16 * MiB) },
  ];
  const chain: PointChain = { vm, dir, db, repository, ports, disks, ids: [], copies: {} };
  const plan = writeRetentionPlan(chain, undefined, 'build');
  for (let i = 0; i < count; i++) {
    changes(i).forEach((commands, index) => writeDisk(disks[index]!.path, commands));
    const result = await sendenseRun([plan, '--db', db, '--json']);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    const id = (await backupsOf(chain)).at(-1)!.id;
    chain.ids.push(id);
    chain.copies[id] = Object.fromEntries(
      disks.map((disk) => [disk.key, keepCopy(disk.path, path.join(dir, `p${i}-${disk.key}.qcow2`))]),
    );
  }
  return chain;
}

export async function backupsOf(chain: PointChain): Promise<readonly Backup[]> {
  const store = await openStore(chain.db);
  try {
    return await store.listBackups({ vm: chain.vm });
  } finally {
    await store.close();
  }
}

// The injected clock: when each point was taken, as the rules see it.
export function setTakenAt(chain: PointChain, times: Record<string, string>): void {
  const db = new Database(chain.db);
  try {
    const update = db.prepare('update backups set started_at = ? where id = ?');
    for (const [id, time] of Object.entries(times)) update.run(time, id);
  } finally {
    db.close();
  }
}

// qemu-img compare of a point (through its chain) with the source when it was taken; -U: also
// while a killed merge's qemu-nbd still holds a file.
export function differenceFromSource(file: string, copy: string): string {
  const result = spawnSync('qemu-img', ['compare', '-U', '-f', 'qcow2', '-F', 'qcow2', file, copy], {
    encoding: 'utf8',
  });
  return result.status === 0 ? '' : `${result.stdout}${result.stderr}`.trim() || `exit ${result.status}`;
}

// Every point left is exact; returns the ids left, oldest first.
export async function expectPointsExact(chain: PointChain): Promise<string[]> {
  const left = await backupsOf(chain);
  for (const backup of left) {
    expect(backup.status, backup.id).toBe('complete');
    for (const disk of backup.disks) {
      expect(
        differenceFromSource(disk.file, chain.copies[backup.id]![disk.diskKey]!),
        `point ${chain.ids.indexOf(backup.id)} (${backup.id}) disk ${disk.diskKey}`,
      ).toBe('');
    }
  }
  // One chain: the oldest is the full, each next one stands on the one before.
  expect(left.map((backup) => backup.type)).toEqual(left.map((_, index) => (index === 0 ? 'full' : 'incremental')));
  expect(left.map((backup) => backup.parentId)).toEqual([null, ...left.slice(0, -1).map((backup) => backup.id)]);
  return left.map((backup) => backup.id);
}

export async function expectVerifyPasses(chain: PointChain): Promise<void> {
  const result = await sendenseRun(['verify', '--vm', chain.vm, '--db', chain.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  expect(result.stdout).toContain('no damage found');
  expect(result.stdout).not.toContain('without manifests');
}
