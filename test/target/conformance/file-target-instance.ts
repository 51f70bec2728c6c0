// What the file targets (src/restore/targets/file-target.ts, raw and qcow2) share in the conformance suite:
// image files on this host, written beside their final name and renamed into place once verified.

import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RestoreTarget } from '../../restore/restore-plan.js';
import type { DiskTargetInstance } from './disk-target-suite.js';

export function fileTargetInstance(format: 'raw' | 'qcow2'): DiskTargetInstance {
  const file = (target: RestoreTarget, key: number) =>
    (target as Extract<RestoreTarget, { type: 'file' }>).path.replaceAll('{key}', String(key));
  return {
    async make(dir) {
      return { type: 'file', format, path: path.join(dir, 'out', `disk-{key}.${format}`) };
    },
    restored: (target, key) => ({ file: file(target, key), format }),
    existing(target, key) {
      mkdirSync(path.dirname(file(target, key)), { recursive: true });
      writeFileSync(file(target, key), 'a file the user keeps\n', { flag: 'wx' });
      return file(target, key);
    },
    // Its directory cannot be made: a regular file stands where it would be.
    async unwritable(dir) {
      writeFileSync(path.join(dir, 'not-a-dir'), '');
      return {
        target: { type: 'file', format, path: path.join(dir, 'not-a-dir', `disk-{key}.${format}`) },
        error: /cannot create .*not-a-dir/,
      };
    },
    presented: (target, key) => existsSync(file(target, key)),
    // Written beside the final name as .NAME.<run-id>.partial (src/restore/targets/file-target.ts).
    halfWritten(target) {
      const dir = path.dirname(file(target, 2000));
      return existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.partial')) : [];
    },
    notApplicable: {},
  };
}
