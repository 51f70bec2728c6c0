// Names in the repository and on sources: <repository>/<vm>/disk-<key>/<backup-id>.qcow2, backup
// ids that sort by time, bitmap names that carry the chain's identity.

import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { DiskKey } from '../plan/types.js';

export function backupFile(repository: string, vm: string, key: DiskKey, backupId: string): string {
  return path.join(repository, vm, `disk-${key}`, `${backupId}.qcow2`);
}

// A libvirt backup's domain XML, beside the disks' folders: the VM's own definition at that point.
export function domainDefinitionFile(repository: string, vm: string, backupId: string): string {
  return path.join(repository, vm, 'domain', `${backupId}.xml`);
}

// A protected point's marker (sendense-run protect), so the repository says so without the state
// database: catalog import restores the protection from it (docs/how-it-works.md#protected-points).
export function protectionMarkerFile(repository: string, vm: string, backupId: string): string {
  return path.join(repository, vm, 'protected', backupId);
}

// 20261121-020000-7f3a: sortable by time; two of them in one second are 1 in 65,536 alike.
export function newBackupId(now = new Date()): string {
  return `${timeStamp(now)}-${randomBytes(2).toString('hex')}`;
}

// run-20261121-020000-7f3a09c4: 8 hex digits, as a hub fires every plan of a schedule in the same
// second (24 plans once drew the same 4-digit id: 1 in 2,700 by the birthday bound).
export function newRunId(now = new Date()): string {
  return `run-${timeStamp(now)}-${randomBytes(4).toString('hex')}`;
}

function timeStamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

// One chain's bitmaps share its prefix, so two chains of the same disk never touch each other's.
export function bitmapName(chainId: string, backupId: string): string {
  return `sendense-${chainId}-${backupId}`;
}

export function isSendenseBitmap(name: string): boolean {
  return name.startsWith('sendense-');
}

export function exportName(vm: string, key: DiskKey): string {
  return `${vm}-disk-${key}`;
}
