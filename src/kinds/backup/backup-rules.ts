// Plans that would work but not as the user probably expects (warnings): an incremental whose
// disks have no change tracking, incremental settings on a backup.

import { isObject, listAt, stringAt, valueAt } from '../../plan/raw-plan.js';
import type { CheckContext } from '../../plan/checks/check-context.js';

export function checkBackupRules({ data, issues }: CheckContext): void {
  const kind = stringAt(data, 'kind');
  const source = valueAt(data, 'vm', 'source');
  if (!isObject(source)) return;
  if (kind === 'incremental') {
    listAt(data, 'vm', 'source', 'disks').forEach((disk, i) => {
      if (!isObject(disk)) return;
      if (source.type === 'qemu' && disk.format === 'raw') {
        issues.warning(
          ['vm', 'source', 'disks', i, 'format'],
          `vm.source.disks[${i}].format: raw images have no dirty bitmaps, so every backup of disk ${String(disk.key)} is a full copy`,
        );
      }
      if (source.type === 'nbd' && disk.bitmap === undefined) {
        issues.warning(
          ['vm', 'source', 'disks', i],
          `vm.source.disks[${i}]: no bitmap, so every backup of disk ${String(disk.key)} is a full copy`,
        );
      }
    });
  }
  if (kind === 'backup' && valueAt(data, 'incremental') !== undefined) {
    issues.warning(['incremental'], 'incremental: only used by kind incremental; ignored for kind backup', 'key');
  }
}
