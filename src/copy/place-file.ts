// One file put in place on a copy (docs/copies.md#what-is-sent): streamed to `<file>.partial`
// (recorded first, for doctor), made durable there and hashed back; only when that hash is the
// hash of the bytes sent is it renamed into place. Any failure removes the partial file, so
// nothing half-written ever has a file's real name.

import { SendenseError, isSendenseError } from '../errors.js';
import type { CopyTarget } from './copy-target.js';
import type { OutgoingBytes } from './outgoing-bytes.js';
import type { PartialFiles } from './partial-files.js';

export interface PlaceContext {
  readonly target: CopyTarget;
  readonly partials: PartialFiles;
  readonly signal?: AbortSignal;
}

export function partialName(relative: string): string {
  return `${relative}.partial`;
}

export async function placeFile(context: PlaceContext, relative: string, bytes: OutgoingBytes): Promise<void> {
  const { target, partials, signal } = context;
  const partial = partialName(relative);
  await partials.record(partial);
  try {
    const landed = await target.write(partial, bytes, signal);
    const sent = bytes.sha256();
    if (landed !== sent) {
      throw new SendenseError(`${target.description}: ${relative} arrived different from what was sent (sha256 ${landed.slice(0, 16)}…, sent ${sent.slice(0, 16)}…): not kept`);
    }
    await target.rename(partial, relative);
  } catch (error) {
    // Removed now if the target answers; else its record stays, for doctor.
    const removed = await target.remove([partial]).then(
      () => true,
      () => false,
    );
    if (removed) await partials.forget(partial);
    if (!isSendenseError(error) || signal?.aborted) throw error;
    const after = removed ? 'its partial file removed' : 'its partial file left for sendense-run doctor';
    throw new SendenseError(`${error.message} (${after}; nothing of it counts on the copy)`, { cause: error });
  }
  await partials.forget(partial);
}
