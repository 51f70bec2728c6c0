// recover (docs/instant-recovery.md): a valid point, one absolute storage file per disk ({key}
// unless one disk is recovered), and a domain that is either started or has its disks moved.

import path from 'node:path';
import { hasEnvRef } from '../../plan/env-refs.js';
import { listAt, stringAt, valueAt } from '../../plan/raw-plan.js';
import { parseRestorePoint } from '../../plan/restore-point.js';
import type { CheckContext } from '../../plan/checks/check-context.js';
import { checkDefinitionMemory } from '../../plan/checks/definition-memory.js';
import { checkDomainChanges } from '../../plan/checks/domain-changes.js';

export function checkRecoverRules({ data, issues }: CheckContext): void {
  checkDefinitionMemory({ data, issues }, ['recover', 'to', 'definition']);
  checkDomainChanges({ data, issues }, ['recover', 'to', 'changes']);
  const point = stringAt(data, 'recover', 'point');
  if (point !== undefined && point !== '') {
    const parsed = parseRestorePoint(point);
    if (typeof parsed === 'string') issues.error(['recover', 'point'], `recover.point: ${parsed}`);
  }
  const storage = stringAt(data, 'recover', 'to', 'storage');
  if (storage !== undefined && !hasEnvRef(storage)) {
    if (!path.posix.isAbsolute(storage))
      issues.error(
        ['recover', 'to', 'storage'],
        `recover.to.storage: must be an absolute path on the node (got '${storage}')`,
      );
    const disks = valueAt(data, 'recover', 'disks');
    const single = Array.isArray(disks) && listAt(data, 'recover', 'disks').length === 1;
    if (!storage.includes('{key}') && !single) {
      const why = Array.isArray(disks)
        ? `recover.disks lists ${disks.length} disks`
        : 'recover.disks is not given, so every disk of the backup is recovered';
      issues.error(
        ['recover', 'to', 'storage'],
        `recover.to.storage: must contain {key} (the disk key) because ${why}`,
      );
    }
  }
  const scratch = stringAt(data, 'recover', 'to', 'scratch');
  if (scratch !== undefined && !hasEnvRef(scratch) && !path.posix.isAbsolute(scratch)) {
    issues.error(
      ['recover', 'to', 'scratch'],
      `recover.to.scratch: must be an absolute path on the node (got '${scratch}')`,
    );
  }
  if (valueAt(data, 'recover', 'start') === false && valueAt(data, 'recover', 'moveStorage') !== true) {
    issues.error(
      ['recover', 'start'],
      'recover.start: false needs recover.moveStorage: true (a domain that is not started must get its disks copied to its storage first)',
    );
  }
}
