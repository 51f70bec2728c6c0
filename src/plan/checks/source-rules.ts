// Rules of a source the schema cannot express, and plans that would work but not as the user
// probably expects (warnings).

import { isObject, listAt, stringAt, valueAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';
import { SECRET_KEY } from './literal-secrets.js';

export function checkSourceRules({ data, issues }: CheckContext): void {
  const kind = stringAt(data, 'kind');
  const source = valueAt(data, 'vm', 'source');
  if (!isObject(source)) return;
  if (source.type === 'vmware') {
    const hasEnv = source.passwordEnv !== undefined;
    const hasFile = source.passwordFile !== undefined;
    if (hasEnv && hasFile) issues.error(['vm', 'source', 'passwordFile'], 'vm.source: give passwordEnv or passwordFile, not both', 'key');
    // A literal password was already reported: that is the one mistake to fix.
    const literal = Object.keys(source).some((key) => SECRET_KEY.test(key));
    if (!hasEnv && !hasFile && !literal) issues.error(['vm', 'source'], 'vm.source: missing passwordEnv (name of an environment variable holding the password) or passwordFile', 'key');
  }
  if (kind === 'incremental') {
    listAt(data, 'vm', 'source', 'disks').forEach((disk, i) => {
      if (!isObject(disk)) return;
      if (source.type === 'qemu' && disk.format === 'raw') {
        issues.warning(['vm', 'source', 'disks', i, 'format'], `vm.source.disks[${i}].format: raw images have no dirty bitmaps, so every backup of disk ${String(disk.key)} is a full copy`);
      }
      if (source.type === 'nbd' && disk.bitmap === undefined) {
        issues.warning(['vm', 'source', 'disks', i], `vm.source.disks[${i}]: no bitmap, so every backup of disk ${String(disk.key)} is a full copy`);
      }
    });
  }
  if (kind === 'backup' && valueAt(data, 'incremental') !== undefined) {
    issues.warning(['incremental'], 'incremental: only used by kind incremental; ignored for kind backup', 'key');
  }
}
