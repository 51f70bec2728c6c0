// Source disks of a test VM (qcow2 or raw), made, changed and inspected with the real qemu tools,
// and kept copies of them at each backup point to compare backups against.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { claimPortRange } from './port-slots.js';

export type DiskFormat = 'qcow2' | 'raw';

export function createDisk(file: string, bytes: number, format: DiskFormat = 'qcow2'): string {
  execFileSync('qemu-img', ['create', '-q', '-f', format, file, String(bytes)]);
  return file;
}

// qemu-io commands on an image, e.g. writeDisk(file, 'write -P 0x5 0 1M', 'write -z 2M 1M').
export function writeDisk(file: string, commands: readonly string[], format: DiskFormat = 'qcow2'): void {
  const args = ['-f', format];
  for (const command of commands) args.push('-c', command);
  execFileSync('qemu-io', [...args, file], { encoding: 'utf8' });
}

// The source as it is now, kept for comparing with the backup of this point.
export function keepCopy(file: string, copy: string): string {
  execFileSync('cp', ['--sparse=always', file, copy]);
  return copy;
}

// `qemu-img compare` of a backup (read through its chain) with a kept source copy; '' when equal,
// else what qemu-img said.
export function differenceBetween(backup: string, source: string, sourceFormat: DiskFormat = 'qcow2'): string {
  const result = spawnSync('qemu-img', ['compare', '-f', 'qcow2', '-F', sourceFormat, backup, source], {
    encoding: 'utf8',
  });
  return result.status === 0 ? '' : `${result.stdout}${result.stderr}`.trim() || `exit ${result.status}`;
}

interface ImageInfoJson {
  readonly 'virtual-size': number;
  readonly 'backing-filename'?: string;
  readonly 'format-specific'?: { readonly data?: { readonly bitmaps?: readonly { readonly name: string }[] } };
}

export function imageInfo(file: string): ImageInfoJson {
  return JSON.parse(execFileSync('qemu-img', ['info', '--output=json', file], { encoding: 'utf8' })) as ImageInfoJson;
}

export function bitmapNames(file: string): string[] {
  return (imageInfo(file)['format-specific']?.data?.bitmaps ?? []).map((bitmap) => bitmap.name).sort();
}

export function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

export function mtimeMs(file: string): number {
  return statSync(file).mtimeMs;
}

// A port range of `size` ports for one test file, away from the product's default 10100-10200,
// from the kernel's ephemeral ports and from other test files running at the same time.
export function portRangeForTestFile(size = 40): [number, number] {
  return claimPortRange(size);
}
