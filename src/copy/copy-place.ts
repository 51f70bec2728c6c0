// Where a copy's merges run (docs/copies.md#retention), by what its target can do: on the copy's
// host when it has one (capability `host`), else worked out on the hub from files brought down
// (capability `download`) in a directory of the repository (docs/copies.md#retention-in-a-bucket).
// A target that can do neither cannot merge.

import path from 'node:path';
import { LOCAL_NODE_ID } from '../node/node.js';
import type { Store } from '../store/index.js';
import type { CopyPlace } from './copy-retention.js';
import type { PlaceContext } from './place-file.js';

/** Where the hub works a copy's merges out, in the repository (it has room for the files merged). */
export const COPY_WORK_DIR = '.sendense-copy-work';

export function copyWorkDir(repository: string): string {
  return path.join(repository, COPY_WORK_DIR);
}

// `scratch`: the hub's directory for a merge worked out there; its directories are recorded for doctor under `runId`.
export function copyPlace(place: PlaceContext, scratch: string, store: Store, runId: string): CopyPlace | undefined {
  const host = place.target.capability('host');
  if (host !== undefined) return { ...place, ...host };
  const download = place.target.capability('download');
  if (download === undefined) return undefined;
  return {
    ...place,
    scratch,
    download: (relative, file) => download(relative, file, place.signal),
    scratchDirs: {
      record: (dir) =>
        store.recordNodeResource({
          runId,
          node: LOCAL_NODE_ID,
          kind: 'scratch-dir',
          name: dir,
          facts: { nodeSpec: null },
        }),
      forget: (dir) => store.forgetNodeResource(LOCAL_NODE_ID, 'scratch-dir', dir),
    },
  };
}
