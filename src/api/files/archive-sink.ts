// Where a streamed download's entries go: a ZIP (./zip-sink.ts) or a tar.zst (./tar-zst-sink.ts),
// written as they come from the appliance, so memory stays flat whatever the folder's size.

import type { ArchiveEntry, ArchiveEvent } from './archive-entries.js';

/** A hard link the format cannot hold: its source's bytes fetched again, as a file. */
export interface RefetchedLink {
  /** The link's own entry (type file, size of its source). */
  readonly entry: ArchiveEntry;
  /** Its source, a name inside the folder. */
  readonly source: Buffer;
}

export interface ArchiveSink {
  /** Writes entries as they come; resolves when each is handed on (backpressure honoured). */
  write(events: AsyncIterable<ArchiveEvent>): Promise<void>;
  /** Hard links written as files (ZIP has no hard links): the caller streams each source again. */
  readonly refetch: readonly RefetchedLink[];
  /** Ends the archive and waits until its last byte is taken by the output. */
  end(): Promise<void>;
  /** Stops now (the client is gone): the output is destroyed, pending writes fail. */
  abort(error: Error): void;
}

// The archive's path of an entry: its prefix (the folder's path below the filesystem root, as
// the CLI names it), then its path inside.
export function archivePath(prefix: string, name: Buffer): Buffer {
  return name.length === 0 ? Buffer.from(prefix, 'utf8') : Buffer.concat([Buffer.from(`${prefix}/`, 'utf8'), name]);
}
