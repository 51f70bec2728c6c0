// What a copy is a copy of (docs/copies.md#which-repository-a-copy-belongs-to): the hub
// repository's marker (its creation time, to the millisecond), its path and the hub's name,
// recorded in the copy's own marker when the copy is made. A target is written only when it is
// missing, empty, or a copy of exactly this repository with its settings; anything else is
// refused before anything is written.

import path from 'node:path';
import { SendenseError } from '../errors.js';
import {
  REPOSITORY_MARKER,
  type CopyOrigin,
  type RepositoryMarker,
  type RepositorySettings,
} from '../repository/marker.js';
import type { TargetRoot } from './copy-target.js';
import { partialName } from './place-file.js';

export type TargetVerdict =
  { readonly kind: 'new' } | { readonly kind: 'copy' } | { readonly kind: 'refused'; readonly why: string };

/** The hub's repository as its copies know it: who it is, and how it stores its backups. */
export interface CopySource {
  readonly origin: CopyOrigin;
  readonly settings: RepositorySettings;
}

// From the repository's marker; one without a marker has never held a backup.
export function copySource(marker: RepositoryMarker | undefined, repository: string, hub: string): CopySource {
  if (marker?.created === undefined) {
    throw new SendenseError(
      `repository ${repository} has no ${REPOSITORY_MARKER} (no backup has been written there yet): nothing to copy`,
    );
  }
  return {
    origin: { created: marker.created, path: path.resolve(repository), hub },
    settings: { encryption: marker.encryption, compression: marker.compression },
  };
}

// `marker`: the target's, when its root holds one.
export function judgeTarget(
  root: TargetRoot,
  marker: RepositoryMarker | undefined,
  { origin, settings }: CopySource,
): TargetVerdict {
  if (root.state === 'not-a-directory') return { kind: 'refused', why: 'it exists and is not a directory' };
  // A copy there would be taken for a VM's folder of that repository (the hub's own, on this host).
  if (root.inside !== undefined) return { kind: 'refused', why: `it is inside the repository ${root.inside}` };
  if (root.state === 'missing') return { kind: 'new' };
  if (marker === undefined) {
    // A marker a killed first run left half-written is no content of anyone's.
    const content = root.entries.filter((entry) => entry !== partialName(REPOSITORY_MARKER));
    return content.length === 0
      ? { kind: 'new' }
      : {
          kind: 'refused',
          why: `it is not empty and is not a repository (no ${REPOSITORY_MARKER}): choose an empty or new directory`,
        };
  }
  const { copyOf } = marker;
  if (copyOf === undefined)
    return { kind: 'refused', why: 'it is a repository of its own, not a copy: choose another path' };
  if (copyOf.created !== origin.created || copyOf.path !== origin.path) {
    return {
      kind: 'refused',
      why: `it is a copy of another repository (${copyOf.path} on hub ${copyOf.hub}, created ${copyOf.created}), not of ${origin.path} (created ${origin.created})`,
    };
  }
  if (marker.encryption !== settings.encryption || marker.compression !== settings.compression) {
    return {
      kind: 'refused',
      why: `it is a copy with encryption ${marker.encryption}, compression ${marker.compression}, but the repository has encryption ${settings.encryption}, compression ${settings.compression}`,
    };
  }
  return { kind: 'copy' };
}
