// Files put in place on a copy (docs/copies.md#what-is-sent): each one's partial file recorded
// first (doctor removes it after a kill), then the target writes, checks and renames it
// (CopyTarget.put). A failure leaves no partial file there, or one still recorded for doctor when
// the target no longer answers, so nothing half-written ever has a file's real name.

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
    await target.put(relative, bytes, signal);
  } catch (error) {
    const removed = await target.remove([partial]).then(
      () => true,
      () => false,
    );
    if (removed) await partials.forget(partial);
    if (!isSendenseError(error) || signal?.aborted) throw error;
    const after = removed ? 'no partial file left' : 'its partial file is left for sendense-run doctor';
    throw new SendenseError(`${error.message} (${after}; nothing of it counts on the copy)`, { cause: error });
  }
  await partials.forget(partial);
}

/** A file to place: its name on the copy and, once its turn comes, its bytes. */
export interface FileToPlace {
  readonly relative: string;
  bytes(): OutgoingBytes;
}

// One after the other, each starting as soon as the one before has handed out all its bytes: while
// that one is made durable and hashed there, the next is on its way. Settles once every one has;
// `placed` hears each in place. The first failure is thrown, after the others settled.
export async function placeFiles(
  context: PlaceContext,
  files: readonly FileToPlace[],
  placed: (file: FileToPlace) => void = () => {},
): Promise<void> {
  const under: Promise<void>[] = [];
  try {
    for (const file of files) {
      const bytes = file.bytes();
      const done = placeFile(context, file.relative, bytes).then(() => placed(file));
      under.push(done);
      await Promise.race([bytes.handedOut, done]);
    }
  } finally {
    const failed = (await Promise.allSettled(under)).find((result) => result.status === 'rejected');
    // eslint-disable-next-line no-unsafe-finally -- the first failure of the files wins over the loop's own
    if (failed !== undefined) throw failed.reason;
  }
}
