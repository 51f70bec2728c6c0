// Plans that would work but not as the user probably expects (warnings): an incremental whose
// disks have no change tracking, incremental settings on a backup.

import { isObject, listAt, stringAt, valueAt } from '../../plan/raw-plan.js';
import type { CheckContext } from '../../plan/checks/check-context.js';
import { sourceDefinitionOf } from '../../source/source-types.js';

export function checkBackupRules({ data, issues }: CheckContext): void {
  const kind = stringAt(data, 'kind');
  const source = valueAt(data, 'vm', 'source');
  if (!isObject(source)) return;
  if (kind === 'incremental') {
    const definition = sourceDefinitionOf(source.type);
    listAt(data, 'vm', 'source', 'disks').forEach((disk, i) => {
      if (!isObject(disk)) return;
      const untracked = definition?.untrackedDisk?.(disk, i);
      if (untracked !== undefined) issues.warning(untracked.path, untracked.message);
    });
  }
  if (kind === 'backup' && valueAt(data, 'incremental') !== undefined) {
    issues.warning(['incremental'], 'incremental: only used by kind incremental; ignored for kind backup', 'key');
  }
}
