// --dry-run of a restore shows what the run would do: a point that is not a complete backup is
// shown as the failure it would be, only the chosen disks' files are served, and an existing
// target is refused (exit 1) or, with overwrite, said to be replaced.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('cli-restore-dry-');

function restorePlan(repository: string, point: string, disks?: number[], overwrite = false): string {
  const file = path.join(ws.dir, 'restore.yaml');
  const restore = {
    point,
    ...(disks ? { disks } : {}),
    target: { type: 'file', path: path.join(ws.dir, 'out-{key}.qcow2'), ...(overwrite ? { overwrite } : {}) },
  };
  writeFileSync(
    file,
    stringify({
      version: 1,
      kind: 'restore',
      name: 'dry-restore',
      vm: { name: 'dry-vm' },
      repository: { path: repository },
      restore,
    }),
  );
  return file;
}

describe('restore --dry-run', () => {
  it('a failed backup as the point would fail; a disk subset serves only its file', async () => {
    const disks = [2000, 2001].map((key) => ({ key, path: createDisk(path.join(ws.dir, `d${key}.qcow2`), 8 * MiB) }));
    const repository = path.join(ws.dir, 'repo');
    const good = writePlan(ws.dir, { name: 'dry-vm', vm: 'dry-vm', disks, repository, ports });
    expect((await sendenseRun([good, '--db', ws.db])).exitCode).toBe(0);
    writeFileSync(path.join(ws.dir, 'blocker'), '');
    const broken = writePlan(ws.dir, {
      name: 'dry-vm',
      vm: 'dry-vm',
      disks,
      repository: path.join(ws.dir, 'blocker', 'repo'),
      ports,
    });
    expect((await sendenseRun([broken, '--db', ws.db])).exitCode).toBe(1);
    const [complete, failed] = await listBackups(ws.db);
    expect([complete.status, failed.status]).toEqual(['complete', 'failed']);

    const refused = await sendenseRun([restorePlan(repository, failed.id), '--dry-run', '--db', ws.db]);
    expect(refused.stdout).toContain(
      `resolve-point   point ${failed.id}: would FAIL: backup ${failed.id} is failed, not complete`,
    );
    expect(refused.exitCode).toBe(1);
    expect((await sendenseRun([restorePlan(repository, failed.id), '--db', ws.db])).exitCode).toBe(1);

    const subset = await sendenseRun([restorePlan(repository, 'latest', [2001]), '--dry-run', '--db', ws.db]);
    expect(subset.exitCode).toBe(0);
    expect(subset.stdout).toContain(
      `qemu-nbd -r (read-only) on ${path.join(repository, 'dry-vm', 'disk-2001', `${complete.id}.qcow2`)}, each on a Unix socket in a private directory\n`,
    );
  });

  it('an existing target file: refused as the run would (exit 1), or replaced with overwrite: true', async () => {
    const disks = [{ key: 2000, path: createDisk(path.join(ws.dir, 'd2000.qcow2'), 8 * MiB) }];
    const repository = path.join(ws.dir, 'repo');
    expect(
      (
        await sendenseRun([
          writePlan(ws.dir, { name: 'dry-vm', vm: 'dry-vm', disks, repository, ports }),
          '--db',
          ws.db,
        ])
      ).exitCode,
    ).toBe(0);
    const target = path.join(ws.dir, 'out-2000.qcow2');
    writeFileSync(target, 'the file the operator has there');

    const refused = await sendenseRun([restorePlan(repository, 'latest'), '--dry-run', '--db', ws.db]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout).toContain(
      `prepare-target  would FAIL: target ${target} for disk 2000 already exists on this host (set restore.target.overwrite: true to replace it)`,
    );
    expect((await sendenseRun([restorePlan(repository, 'latest'), '--db', ws.db])).exitCode).toBe(1);

    const replaced = await sendenseRun([
      restorePlan(repository, 'latest', undefined, true),
      '--dry-run',
      '--db',
      ws.db,
    ]);
    expect(replaced.exitCode, replaced.stdout).toBe(0);
    expect(replaced.stdout).toContain(
      `prepare-target  ${target} (qcow2, replaced on success, existing now for disk 2000, mode 0600) on this host`,
    );
  });
});
