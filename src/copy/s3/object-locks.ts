// A copy's objects locked with S3 Object Lock (docs/copies.md#copies-on-object-storage): the
// bucket must have it, and a lock is made longer on the version a reader sees.

import { GetObjectLockConfigurationCommand, PutObjectRetentionCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendenseError } from '../../errors.js';
import type { S3CopyTo } from '../../plan/types.js';
import type { ObjectLocks } from '../copy-target.js';
import type { CopyObjects } from './copy-objects.js';

export function objectLocks(objects: CopyObjects, lock: NonNullable<S3CopyTo['objectLock']>): ObjectLocks {
  const { client, bucket, key, fail, head } = objects;
  return {
    lock,
    async extendLock(relative, mode, until, slackMs) {
      const there = await head(relative);
      if (there === undefined) return false;
      const now = there.ObjectLockRetainUntilDate;
      if (now !== undefined && now.getTime() >= until.getTime() - slackMs) return false;
      const Retention = {
        Mode: mode === 'governance' ? ('GOVERNANCE' as const) : ('COMPLIANCE' as const),
        RetainUntilDate: until,
      };
      await client
        .send(
          new PutObjectRetentionCommand({ Bucket: bucket, Key: key(relative), VersionId: there.VersionId, Retention }),
        )
        .catch(fail(`cannot lock ${relative} longer`));
      return true;
    },
  };
}

// objectLock needs a bucket made with object lock enabled: S3 cannot turn it on later for a plain bucket here.
export async function requireObjectLock(client: S3Client, bucket: string, description: string): Promise<void> {
  const config = await client.send(new GetObjectLockConfigurationCommand({ Bucket: bucket })).catch(() => undefined);
  if (config?.ObjectLockConfiguration?.ObjectLockEnabled !== 'Enabled') {
    throw new SendenseError(
      `${description}: copy.to.objectLock is set, but the bucket ${bucket} has no object lock: make the bucket with object lock enabled, or leave objectLock out`,
    );
  }
}
