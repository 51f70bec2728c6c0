// --dry-run of a restore shows what the run would do: a point that is not a complete backup is
// shown as the failure it would be, and only the chosen disks' files are served.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
let dir: string;
let db: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'cli-restore-dry-'));
  db = path.join(dir, 'state.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function restorePlan(repository: string, point: string, disks?: number[]): string {
  const file = path.join(dir, 'restore.yaml');
  const restore = { point, ...(disks ? { disks } : {}), target: { type: 'file', path: path.join(dir, 'out-{key}.qcow2') } };
  writeFileSync(file, stringify({ version: 1, kind: 'restore', name: 'dry-restore', vm: { name: 'dry-vm' }, repository: { path: repository }, restore }));
  return file;
}

describe('restore --dry-run', () => {
  it('a failed backup as the point would fail; a disk subset serves only its file', async () => {
    const disks = [2000, 2001].map((key) => ({ key, path: createDisk(path.join(dir, `d${key}.qcow2`), 8 * MiB) }));
    const repository = path.join(dir, 'repo');
    const good = writePlan(dir, { name: 'dry-vm', vm: 'dry-vm', disks, repository, ports });
    expect((await sendenseRun([good, '--db', db])).exitCode).toBe(0);
    writeFileSync(path.join(dir, 'blocker'), '');
    const broken = writePlan(dir, { name: 'dry-vm', vm: 'dry-vm', disks, repository: path.join(dir, 'blocker', 'repo'), ports });
    expect((await sendenseRun([broken, '--db', db])).exitCode).toBe(1);
    const [complete, failed] = await listBackups(db);
    expect([complete.status, failed.status]).toEqual(['complete', 'failed']);

    const refused = await sendenseRun([restorePlan(repository, failed.id), '--dry-run', '--db', db]);
    expect(refused.stdout).toContain(`resolve-point   point ${failed.id}: would FAIL: backup ${failed.id} is failed, not complete`);
    expect((await sendenseRun([restorePlan(repository, failed.id), '--db', db])).exitCode).toBe(1);

    const subset = await sendenseRun([restorePlan(repository, 'latest', [2001]), '--dry-run', '--db', db]);
    expect(subset.exitCode).toBe(0);
    expect(subset.stdout).toContain(`qemu-nbd -r (read-only) on ${path.join(repository, 'dry-vm', 'disk-2001', `${complete.id}.qcow2`)}\n`);
  });
});
