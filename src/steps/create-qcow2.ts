// create-qcow2: the new backup files: a full is a fresh image of the source's size, an incremental
// an overlay on the parent's file (backing path stored relative so the repository can move).

import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { BackupRun } from '../engine/run-context.js';
import type { Step } from '../engine/step.js';
import { createOverlay, createQcow2 } from '../qemu/index.js';
import { PROVISIONAL_FORMAT_OPTIONS } from '../vmware/client.js';

export const createQcow2Files: Step<BackupRun> = {
  name: 'create-qcow2',
  title: (run) => `create ${run.state.type === 'full' ? 'new images' : 'overlays'} in ${run.plan.repository.path}`,
  async run(run) {
    for (const disk of run.state.disks) {
      await mkdir(path.dirname(disk.file), { recursive: true });
      // Registered before creating: a half-created file is removed too.
      run.undo.push({
        what: `delete ${disk.file}`,
        when: 'failure',
        step: 'create-qcow2',
        run: () => rm(disk.file, { force: true }),
      });
      if (disk.parentFile) await createOverlay(disk.file, disk.parentFile, { backingFormat: 'qcow2' });
      else if (disk.source.type === 'vmware') await createQcow2(disk.file, disk.virtualSize, { formatOptions: PROVISIONAL_FORMAT_OPTIONS });
      else await createQcow2(disk.file, disk.virtualSize);
    }
    return run.state.disks.map((disk) => `${disk.key}: ${path.relative(run.plan.repository.path, disk.file)}`).join(', ');
  },
};
