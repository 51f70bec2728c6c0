// copy.to type s3 (docs/copies.md#copies-on-object-storage): a prefix in a bucket of an S3 object
// store (../s3/s3-copy-target.ts), with the plan's credentials. The S3 SDK (a megabyte of code) is
// loaded only when a bucket is reached.

import { hideFromChildren } from '../../process/child-env.js';
import { expandHome } from '../../plan/home-path.js';
import type { S3CopyTo } from '../../plan/types.js';
import { s3Description } from '../s3/s3-description.js';
import type { CopyTargetDefinition, OpenedCopyTarget } from './copy-target-definition.js';
import { checkS3CopyTo } from './plan-checks.js';

export const s3CopyTargetDefinition: CopyTargetDefinition<S3CopyTo> = {
  build(raw) {
    const credentials =
      raw.credentialsFile !== undefined
        ? { file: expandHome(raw.credentialsFile), profile: raw.profile ?? 'default' }
        : hiddenS3Names({ accessKeyIdEnv: raw.accessKeyIdEnv!, secretAccessKeyEnv: raw.secretAccessKeyEnv! });
    return {
      type: 's3',
      endpoint: raw.endpoint.replace(/\/$/, ''),
      bucket: raw.bucket,
      prefix: raw.prefix ?? '',
      region: raw.region ?? 'us-east-1',
      credentials,
      ...(raw.objectLock !== undefined && { objectLock: raw.objectLock }),
    };
  },
  describe: s3Description,
  open: (to, say) => openBucket(to, say),
  onNode: false,
  checks: checkS3CopyTo,
  encryptedRetention:
    "an encrypted repository's copy in a bucket cannot merge its points yet; leave copy.retention out (the copy keeps every point it is sent)",
  async reopen(facts) {
    if (facts.s3 === undefined) throw new Error('an s3 copy is reached again from its recorded bucket');
    return openBucket(facts.s3, () => {});
  },
  describeRecord: (facts) => s3Description(facts.s3!),
  leftBehind: { what: 'unfinished upload', removal: 'abort the upload' },
  capabilities: { fetch: (to) => to },
};

// The bucket with the plan's credentials (from the environment or the credentials file now).
async function openBucket(to: S3CopyTo, say: (message: string) => void): Promise<OpenedCopyTarget> {
  const [{ s3Client, s3Keys }, { s3CopyTarget }] = await Promise.all([
    import('../s3/s3-client.js'),
    import('../s3/s3-copy-target.js'),
  ]);
  const client = s3Client(to, await s3Keys(to.credentials));
  return { target: s3CopyTarget(client, to, say), close: async () => client.destroy() };
}

// An object store's key variables, kept out of every child's environment from now on.
function hiddenS3Names<T extends { readonly accessKeyIdEnv: string; readonly secretAccessKeyEnv: string }>(
  names: T,
): T {
  hideFromChildren(names.accessKeyIdEnv, names.secretAccessKeyEnv);
  return names;
}
