// Manifest temp files beside kept backups (`.<id>.json.<pid>.tmp`, `.<id>.json.merge.<pid>.tmp`):
// a merge or a run killed between writing a manifest and renaming it leaves one. Only when its
// writer is gone and it is a minute old: a writer on this host renames its temp within moments.

import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { isProcessAlive } from '../process/index.js';
import { parseManifestTemp } from '../repository/manifest-file.js';
import type { Sweeper } from './sweeper.js';

const TEMP_MIN_AGE_MS = 60_000;

export const manifestTempsSweeper: Sweeper = {
  name: 'manifest temp files',
  tables: [],
  async sweep({ store, act }) {
    const dirs = new Set<string>();
    for (const backup of await store.listBackups()) for (const disk of backup.disks) dirs.add(path.dirname(disk.file));
    for (const dir of [...dirs].sort()) {
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const temp = parseManifestTemp(name);
        if (temp === undefined || isProcessAlive(temp.writerPid)) continue;
        const file = path.join(dir, name);
        const age = await stat(file).then(
          (info) => Date.now() - info.mtimeMs,
          () => 0,
        );
        if (age < TEMP_MIN_AGE_MS) continue;
        await act(`unfinished manifest ${file} (its writer, pid ${temp.writerPid}, is gone)`, 'delete it', () =>
          rm(file, { force: true }),
        );
      }
    }
  },
};
