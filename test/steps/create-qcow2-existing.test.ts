// create-qcow2 never touches a file that is already there. A backup id drawn twice (ids carry the
// time to the second and a 16-bit suffix) would name another backup's file: the step refuses it
// before registering the "delete the half-created file" undo, so the failed run's cleanup cannot
// delete that backup. resolve-chain does not draw such an id in the first place.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BackupRun } from '../../src/kinds/backup/backup-run.js';
import { UndoStack } from '../../src/engine/undo-stack.js';
import { loadPlanForRun } from '../../src/plan/load.js';
import type { BackupPlan } from '../../src/plan/types.js';
import { backupFile } from '../../src/repository/layout.js';
import { createQcow2Files } from '../../src/kinds/backup/create-qcow2.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { writePlan } from '../support/sendense-cli.js';
import { createDisk, sha256, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ws = useRunWorkspace('create-existing-');

describe('create-qcow2 and a file that is already there', () => {
  it("refuses it, and the failed run's cleanup leaves that backup as it was", async () => {
    const disk = createDisk(path.join(ws.dir, 'disk.qcow2'), 8 * MiB);
    const plan = (await loadPlanForRun(
      writePlan(ws.dir, {
        name: 'exists-nightly',
        vm: 'vme',
        disks: [{ key: 2000, path: disk }],
        repository: ws.repository,
        ports: [45000, 45009],
      }),
      {},
    )) as BackupPlan;
    // Another backup's file, exactly where this run's id would put its own.
    const taken = backupFile(ws.repository, 'vme', 2000, '20261122-020000-abcd');
    mkdirSync(path.dirname(taken), { recursive: true });
    createDisk(taken, 8 * MiB, 'qcow2');
    writeDisk(taken, ['write -P 0x77 0 1M']);
    writeFileSync(taken.replace(/\.qcow2$/, '.json'), '{"kept":true}\n');
    const before = sha256(taken);

    const undo = new UndoStack();
    const run = {
      plan,
      undo,
      state: {
        backupId: '20261122-020000-abcd',
        chainId: '20261122-020000-abcd',
        type: 'full',
        disks: [{ key: 2000, file: taken, virtualSize: 8 * MiB, exportName: 'vme-disk-2000' }],
        supersededBitmaps: [],
      },
    } as unknown as BackupRun;
    await expect(createQcow2Files.run(run)).rejects.toThrow(`${taken} already exists: refusing to overwrite it`);
    await undo.unwind();
    expect(sha256(taken)).toBe(before);
  });
});
