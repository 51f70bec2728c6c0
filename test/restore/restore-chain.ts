// A backed-up 2-disk test VM for restore tests: a full and incrementals taken through the real
// CLI (kind: incremental), with a copy of each source disk kept at every point.

import path from 'node:path';
import { listBackups, sendenseRun, writePlan, type BackupRow } from '../support/sendense-cli.js';
import { createDisk, keepCopy, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
export const DISK_KEYS = [2000, 2001] as const;
export const DISK_SIZES: Readonly<Record<number, number>> = Object.freeze({ 2000: 64 * MiB, 2001: 10 * MiB + 12288 });

// What the VM writes before each point: data, ranges overwritten with zeroes, discards, last sectors.
const WRITES: readonly Readonly<Record<number, readonly string[]>>[] = [
  {
    2000: ['write -P 0x11 0 8M', 'write -P 0x12 30M 4M', `write -P 0x13 ${64 * MiB - 512} 512`],
    2001: ['write -P 0x21 0 10M', `write -P 0x22 ${DISK_SIZES[2001]! - 512} 512`],
  },
  {
    2000: ['write -z 2M 2M', 'discard 30M 4M', `write -P 0x14 ${64 * MiB - 512} 512`, 'write -P 0x15 40M 1M'],
    2001: ['write -P 0x23 5M 64K'],
  },
  {
    2000: ['write -z 40M 512K', 'write -P 0x16 0 4K'],
    2001: ['write -z 0 1M', `write -z ${DISK_SIZES[2001]! - 4096} 4096`],
  },
];

export type TimedBackup = BackupRow & { readonly startedAt: string };

export interface BackedUpVm {
  readonly vm: string;
  readonly db: string;
  readonly repository: string;
  /** Complete backups, oldest first (point 1 = the full). */
  readonly backups: readonly TimedBackup[];
  /** copies[point - 1][diskKey] = the source disk as it was at that point (qcow2). */
  readonly copies: readonly Readonly<Record<number, string>>[];
  /** The VM's source disks (their current state = the last point). */
  readonly sources: Readonly<Record<number, string>>;
  /** The backup plan, to take one more backup. */
  readonly backupPlan: string;
}

export async function backUpVm(
  dir: string,
  options: { vm: string; ports: readonly [number, number]; points: number },
): Promise<BackedUpVm> {
  const db = path.join(dir, 'state.db');
  const repository = path.join(dir, 'repository');
  const sources: Record<number, string> = {};
  for (const key of DISK_KEYS)
    sources[key] = createDisk(path.join(dir, `${options.vm}-${key}.qcow2`), DISK_SIZES[key]!);
  const disks = DISK_KEYS.map((key) => ({ key, path: sources[key]! }));
  const backupPlan = writePlan(dir, {
    name: `${options.vm}-backup`,
    kind: 'incremental',
    vm: options.vm,
    disks,
    repository,
    ports: options.ports,
  });
  const copies: Record<number, string>[] = [];
  for (let point = 1; point <= options.points; point++) {
    for (const key of DISK_KEYS) writeDisk(sources[key]!, WRITES[point - 1]![key]!);
    const result = await sendenseRun([backupPlan, '--db', db]);
    if (result.exitCode !== 0) throw new Error(`backup ${point} failed:\n${result.stdout}\n${result.stderr}`);
    // No process has the disks open between runs: a plain sparse copy is a consistent snapshot.
    copies.push(
      Object.fromEntries(
        DISK_KEYS.map((key) => [key, keepCopy(sources[key]!, path.join(dir, `point${point}-${key}.qcow2`))]),
      ),
    );
  }
  const backups = (await listBackups(db, options.vm)).filter((backup) => backup.status === 'complete') as TimedBackup[];
  if (backups.length !== options.points)
    throw new Error(`expected ${options.points} complete backups, got ${backups.length}`);
  return { vm: options.vm, db, repository, backups, copies, sources, backupPlan };
}
