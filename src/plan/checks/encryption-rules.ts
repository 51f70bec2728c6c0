// repository.encryption (docs/encryption.md): one key source, and what an operator must hear
// before trusting a repository to a key: a key file others can read, and that every key lost
// means every backup lost.

import { isObject, stringAt, valueAt } from '../raw-plan.js';
import { keyFileIsShared } from '../../repository/user-key.js';
import type { CheckContext } from './check-context.js';

export function checkEncryptionRules({ data, issues }: CheckContext): void {
  const encryption = valueAt(data, 'repository', 'encryption');
  if (!isObject(encryption)) return;
  if (encryption.keyFile !== undefined && encryption.keyEnv !== undefined) {
    issues.error(
      ['repository', 'encryption', 'keyEnv'],
      'repository.encryption: give keyFile or keyEnv, not both',
      'key',
    );
    return;
  }
  if (stringAt(data, 'repository', 'compression') === 'zstd') {
    issues.error(
      ['repository', 'compression'],
      'repository.compression: zstd cannot be combined with repository.encryption: QEMU stores the compressed clusters of a qcow2 unencrypted, which would leak the data (docs/encryption.md#compression)',
    );
  }
  const keyFile = stringAt(data, 'repository', 'encryption', 'keyFile');
  if (keyFile !== undefined && keyFileIsShared(keyFile)) {
    issues.warning(
      ['repository', 'encryption', 'keyFile'],
      `repository.encryption.keyFile: ${keyFile} can be read by other users (group or others): chmod 600 it`,
    );
  }
  if (keyFile !== undefined || encryption.keyEnv !== undefined) {
    issues.warning(
      ['repository', 'encryption'],
      'repository.encryption: losing every key of this repository loses every backup in it (nothing can decrypt them): keep a second key offline (sendense-run key add)',
      'key',
    );
  }
}
