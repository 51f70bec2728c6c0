// A 2-disk VM backed up 3 times (a full and two incrementals, data written into every layer of
// both disks), with kept copies of the source at each point; and ways to rot a stored file.

import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, keepCopy, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;

export interface Chain {
  readonly plan: string;
  readonly disks: readonly { readonly key: number; readonly path: string }[];
  /** copies[point][key]: the source at that point. */
  readonly copies: readonly Record<number, string>[];
}

export async function backUpThreePoints(
  dir: string,
  repository: string,
  db: string,
  ports: readonly [number, number],
  vm = 'vmv',
): Promise<Chain> {
  const disks = [
    { key: 2000, path: createDisk(path.join(dir, 'disk0.qcow2'), 32 * MiB) },
    { key: 2001, path: createDisk(path.join(dir, 'disk1.qcow2'), 16 * MiB) },
  ];
  const plan = writePlan(dir, { name: `${vm}-nightly`, vm, disks, repository, ports });
  const changes = [
    [['write -P 0x11 0 6M', 'write -P 0x12 20M 2M'], ['write -P 0x21 0 3M']],
    [['write -P 0x13 1M 1M', 'write -z 20M 1M'], ['write -P 0x22 8M 2M']],
    [['write -P 0x14 4M 512K'], ['write -P 0x23 1M 64K', 'write -z 8M 1M']],
  ];
  const copies: Record<number, string>[] = [];
  for (const [point, change] of changes.entries()) {
    disks.forEach((disk, index) => writeDisk(disk.path, change[index]!));
    const result = await sendenseRun([plan, '--db', db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    copies.push(
      Object.fromEntries(
        disks.map((disk) => [disk.key, keepCopy(disk.path, path.join(dir, `p${point}-${disk.key}.qcow2`))]),
      ),
    );
  }
  return { plan, disks, copies };
}

export type Rot = 'data cluster' | 'L2 entry' | 'header';

// Flips one bit of `file` where `rot` says; flipping it again undoes it.
export function flipBit(file: string, rot: Rot): void {
  flipAt(file, rotOffset(file, rot), rot === 'L2 entry' ? 0x01 : 0x10);
}

export function rotOffset(file: string, rot: Rot): number {
  if (rot === 'header') return 0; // the magic
  const map = JSON.parse(
    execFileSync('qemu-img', ['map', '--output=json', '-f', 'qcow2', ownLayer(file)], { encoding: 'utf8' }),
  ) as {
    start: number;
    data: boolean;
    zero: boolean;
    offset?: number;
  }[];
  const data = map.find((entry) => entry.data && !entry.zero && entry.offset !== undefined)!;
  if (rot === 'data cluster') return data.offset! + 4096 + 7;
  // The L2 entry of that guest cluster: header -> L1 -> L2 table (qcow2 spec "Cluster mapping").
  const header = readAt(file, 0, 48);
  const clusterBits = header.readUInt32BE(20);
  const l1Offset = Number(header.readBigUInt64BE(40));
  const l2Entries = 2 ** (clusterBits - 3);
  const guestCluster = Math.floor(data.start / 2 ** clusterBits);
  const l1Entry = readAt(file, l1Offset + 8 * Math.floor(guestCluster / l2Entries), 8).readBigUInt64BE(0);
  const l2Offset = Number(l1Entry & 0x00fffffffffffe00n);
  // Byte 5 of the big-endian entry holds bits 16..23 of the host offset: the cluster moves by 64 KiB.
  return l2Offset + 8 * (guestCluster % l2Entries) + 5;
}

export function ownLayer(file: string): string {
  return `json:${JSON.stringify({ driver: 'qcow2', backing: null, file: { driver: 'file', filename: file } })}`;
}

// Writes through the qcow2 file's own layer only (its backing chain untouched).
export function writeOwnLayer(file: string, command: string): void {
  execFileSync('qemu-io', ['-c', command, ownLayer(file)], { stdio: 'ignore' });
}

function readAt(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, offset);
    return buffer;
  } finally {
    closeSync(fd);
  }
}

function flipAt(file: string, offset: number, mask: number): void {
  const byte = readAt(file, offset, 1);
  byte[0] ^= mask;
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, byte, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}
