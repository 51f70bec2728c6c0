// The one place where a copy's bytes leave the hub (docs/copies.md#what-is-sent): a file read in
// 1 MiB chunks (on a worker thread from 8 MiB, which hashes them too: ./hashed-file-chunks.ts), or
// a small text, each chunk hashed (sha256) and counted as it is handed to the target, so the
// target can check what landed against what was sent. With a rate (docs/copies.md#bandwidth),
// each chunk waits its turn first: what is counted went at that rate.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { crashPoint } from '../crash-points.js';
import { hashedFileChunks, type BytePatch } from './hashed-file-chunks.js';

export interface OutgoingBytes extends AsyncIterable<Uint8Array> {
  /** How many bytes there are to send. */
  readonly size: number;
  /** sha256 (hex) of the bytes handed out: ask once every one is. */
  sha256(): string;
  /** Settles once the bytes are all handed out, or the target stopped taking them. */
  readonly handedOut: Promise<void>;
}

/** Waits until `bytes` may leave (the run's token bucket, src/rate/bandwidth-bucket.ts). */
export type Pace = (bytes: number) => Promise<void>;

export interface OutgoingOptions {
  /** Hears the bytes handed out so far. */
  readonly onProgress?: (sent: number) => void;
  readonly pace?: Pace;
}

const CHUNK = 1024 * 1024;

export type { BytePatch } from './hashed-file-chunks.js';

// Below this a file is read and hashed on the main thread: a worker's start would cost more.
const WORKER_FROM = 8 * CHUNK;

export function fileBytes(
  file: string,
  size: number,
  options: OutgoingOptions & { readonly patch?: BytePatch } = {},
): OutgoingBytes {
  if (size >= WORKER_FROM) {
    const chunks = hashedFileChunks(file, CHUNK, options.patch);
    return outgoing(chunks, size, options, chunks.digest);
  }
  const chunks = createReadStream(file, { highWaterMark: CHUNK });
  return outgoing(options.patch === undefined ? chunks : patched(chunks, options.patch), size, options);
}

async function* patched(chunks: AsyncIterable<Buffer>, patch: BytePatch): AsyncIterable<Buffer> {
  let at = 0;
  for await (const chunk of chunks) {
    if (at === 0) {
      if (patch.offset + patch.bytes.length > chunk.length)
        throw new Error(`a patch at ${patch.offset} lies beyond the first chunk`);
      const copy = Buffer.from(chunk);
      patch.bytes.copy(copy, patch.offset);
      yield copy;
    } else yield chunk;
    at += chunk.length;
  }
}

export function textBytes(text: string, pace?: Pace): OutgoingBytes {
  const bytes = Buffer.from(text);
  return outgoing([bytes], bytes.length, { pace });
}

// `hashed`: the source hashes its chunks itself (on a worker) and gives the digest after the last.
function outgoing(
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  size: number,
  { onProgress, pace }: OutgoingOptions,
  hashed?: () => string | undefined,
): OutgoingBytes {
  const hash = createHash('sha256');
  let sent = 0;
  let digest: string | undefined;
  let finished = (): void => {};
  const handedOut = new Promise<void>((resolve) => (finished = resolve));
  return {
    size,
    async *[Symbol.asyncIterator]() {
      try {
        for await (const chunk of source) {
          await pace?.(chunk.length);
          if (hashed === undefined) hash.update(chunk);
          sent += chunk.length;
          onProgress?.(sent);
          yield chunk;
          // A kill -9 with half a file sent (test/copy/copy-crash.test.ts).
          if (sent * 2 >= size && (sent - chunk.length) * 2 < size) crashPoint('copy.half-sent');
        }
      } finally {
        finished();
      }
    },
    sha256: () => {
      if (hashed === undefined) return (digest ??= hash.digest('hex'));
      const done = hashed();
      if (done === undefined) throw new Error('sha256 asked of bytes not all handed out');
      return done;
    },
    handedOut,
  };
}
