// Rules of a source the schema cannot express (a kind's own warnings are its own: src/kinds).

import { isObject, valueAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';
import { SECRET_KEY } from './literal-secrets.js';

export function checkSourceRules({ data, issues }: CheckContext): void {
  const source = valueAt(data, 'vm', 'source');
  if (!isObject(source)) return;
  if (source.type === 'vmware') {
    const hasEnv = source.passwordEnv !== undefined;
    const hasFile = source.passwordFile !== undefined;
    if (hasEnv && hasFile)
      issues.error(['vm', 'source', 'passwordFile'], 'vm.source: give passwordEnv or passwordFile, not both', 'key');
    // A literal password was already reported: that is the one mistake to fix.
    const literal = Object.keys(source).some((key) => SECRET_KEY.test(key));
    if (!hasEnv && !hasFile && !literal)
      issues.error(
        ['vm', 'source'],
        'vm.source: missing passwordEnv (name of an environment variable holding the password) or passwordFile',
        'key',
      );
    // A plan written for the old client (clientPath) keeps it; asking for both is a contradiction (docs/vmware.md#the-old-client).
    if (source.clientPath !== undefined && source.client === 'sendense-run') {
      issues.error(
        ['vm', 'source', 'clientPath'],
        'vm.source.clientPath is for the old client (client: sendense-backup-client), but client is sendense-run: remove clientPath to let sendense-run read the VM, or say client: sendense-backup-client',
        'key',
      );
    }
  }
}
