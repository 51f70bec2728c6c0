// A ZIP written as entries come (yazl: ZIP64 once an entry, the archive or the count needs it;
// sizes checked against the guest's). Files deflated, folders and symlinks as entries of their own
// (a symlink's target as its data, mode 0120777, as zip -y stores it: never followed). ZIP has no
// hard links: each becomes a file, its source's bytes fetched again (refetch).

import { isUtf8 } from 'node:buffer';
import { once } from 'node:events';
import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';
import type { ArchiveEntry, ArchiveEvent } from './archive-entries.js';
import { archivePath, type ArchiveSink, type RefetchedLink } from './archive-sink.js';

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

export interface ZipSinkOptions {
  /** The folder's (or file's) path below its filesystem's root, e.g. "home/alice". */
  readonly prefix: string;
  /** Deflate file data (default true); false stores it as it is, for data that does not compress. */
  readonly compress?: boolean;
}

export function zipSink(out: Writable, options: ZipSinkOptions): ArchiveSink {
  const zip = new ZipFile();
  const stopped = new AbortController();
  const refetch: RefetchedLink[] = [];
  const compress = options.compress ?? true;
  zip.on('error', (error: Error) => (zip.outputStream as PassThrough).destroy(error));
  const done = pipeline(zip.outputStream, out);
  done.catch((error: unknown) => stopped.abort(error));
  let file: PassThrough | undefined;

  const closeFile = () => {
    file?.end();
    file = undefined;
  };
  const add = (entry: ArchiveEntry) => {
    const name = zipName(archivePath(options.prefix, entry.name));
    const mtime = new Date(entry.mtime * 1000);
    if (entry.type === 'directory') zip.addEmptyDirectory(name, { mtime, mode: S_IFDIR | entry.mode });
    else if (entry.type === 'symlink')
      zip.addBuffer(entry.link, name, { mtime, mode: S_IFLNK | 0o777, compress: false });
    else if (entry.type === 'hardlink') refetch.push({ entry: { ...entry, type: 'file' }, source: entry.link });
    else {
      // Handed over lazily and let go of: yazl keeps each entry (and what its callback holds) for
      // the central directory, and a folder may have millions of files.
      let handed: PassThrough | undefined = (file = new PassThrough());
      zip.addReadStreamLazy(name, { mtime, mode: S_IFREG | entry.mode, size: entry.size, compress }, (give) => {
        const stream = handed!;
        handed = undefined;
        give(null, stream);
      });
    }
  };

  return {
    refetch,
    async write(events: AsyncIterable<ArchiveEvent>) {
      try {
        for await (const event of events) {
          stopped.signal.throwIfAborted();
          if (event.kind === 'entry') {
            closeFile();
            add(event.entry);
          } else if (file !== undefined && !file.write(event.chunk)) {
            await once(file, 'drain', { signal: stopped.signal });
          }
        }
      } finally {
        closeFile();
      }
    },
    async end() {
      stopped.signal.throwIfAborted();
      zip.end();
      await done;
    },
    abort(error) {
      stopped.abort(error);
      // Without an error: yazl has no listener on an entry's stream; the output carries it.
      file?.destroy();
      (zip.outputStream as PassThrough).destroy(error);
    },
  };
}

// yazl takes a name as text and reads a backslash as '/': a name that is not UTF-8 or holds a
// backslash has those bytes as %XX (docs/file-level-restore.md), everything else as it is.
export function zipName(bytes: Buffer): string {
  if (isUtf8(bytes) && !bytes.includes(0x5c)) return bytes.toString('utf8');
  let text = '';
  let at = 0;
  while (at < bytes.length) {
    const length = [1, 2, 3, 4].find((n) => at + n <= bytes.length && isUtf8(bytes.subarray(at, at + n)));
    if (length === undefined || bytes[at] === 0x5c) {
      text += `%${bytes[at].toString(16).toUpperCase().padStart(2, '0')}`;
      at += 1;
    } else {
      text += bytes.subarray(at, at + length).toString('utf8');
      at += length;
    }
  }
  return text;
}
