// The partial files a copy run writes on the other host (docs/copies.md#crash-safety): each is
// recorded in the state database (node resource `copy-partial`, with how to reach that host)
// before it is created and forgotten once it is renamed into place or removed, so `doctor`
// removes what a killed run left there.

import type { NodeHost } from '../node/node.js';
import type { NodeSpec, S3CopyTo } from '../plan/types.js';
import type { Store } from '../store/index.js';
import type { CopyTarget } from './copy-target.js';

export const COPY_PARTIAL_RESOURCE = 'copy-partial';

/** What doctor needs to reach the host, or the bucket, again. */
export interface CopyPartialFacts {
  readonly plan: string;
  readonly nodeSpec?: NodeSpec;
  readonly s3?: S3CopyTo;
}

export interface PartialFiles {
  record(relative: string): Promise<void>;
  forget(relative: string): Promise<void>;
}

export function partialFiles(store: Store, runId: string, target: CopyTarget, facts: CopyPartialFacts): PartialFiles {
  return {
    record: (relative) => store.recordNodeResource({ runId, node: target.node, kind: COPY_PARTIAL_RESOURCE, name: target.absolute(relative), facts: { ...facts } }),
    forget: (relative) => store.forgetNodeResource(target.node, COPY_PARTIAL_RESOURCE, target.absolute(relative)),
  };
}

// doctor: a dead run's partial file, by its recorded absolute path (one not there is no error).
export async function removePartialFile(host: NodeHost, file: string): Promise<void> {
  const result = await host.exec(['rm', '-f', '--', file]);
  if (result.exitCode !== 0) throw new Error(result.stderr.trim() || `rm exited ${result.exitCode}`);
}
