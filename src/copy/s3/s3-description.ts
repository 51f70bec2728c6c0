// How an s3 copy is named in messages and in the state database's records, without loading the
// S3 SDK (a copy plan over SSH, or its dry run, never needs it).

import type { S3CopyTo } from '../../plan/types.js';

// "s3://offsite/pgtest1 at http://127.0.0.1:7480"
export function s3Description(to: Pick<S3CopyTo, 'endpoint' | 'bucket' | 'prefix'>): string {
  return `s3://${to.bucket}${to.prefix === '' ? '' : `/${to.prefix}`} at ${to.endpoint}`;
}

// The id the state database records what a run left on this target under (NodeHost.id's place).
export function s3TargetId(to: Pick<S3CopyTo, 'endpoint' | 'bucket'>): string {
  return `s3:${to.endpoint}/${to.bucket}`;
}
