// The one place where a copy's bytes leave the hub (docs/copies.md#what-is-sent): a file read in
// 1 MiB chunks, or a small text, each chunk hashed (sha256) and counted as it is handed to the
// target, so the target can check what landed against what was sent. A rate limit belongs here,
// in front of the chunks.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { sourceCrashPoint } from '../source/test-seams.js';

export interface OutgoingBytes extends AsyncIterable<Uint8Array> {
  /** How many bytes there are to send. */
  readonly size: number;
  /** sha256 (hex) of the bytes handed out: ask once every one is. */
  sha256(): string;
  /** Settles once the bytes are all handed out, or the target stopped taking them. */
  readonly handedOut: Promise<void>;
}

const CHUNK = 1024 * 1024;

// `onProgress` hears the bytes handed out so far.
export function fileBytes(file: string, size: number, onProgress?: (sent: number) => void): OutgoingBytes {
  return outgoing(createReadStream(file, { highWaterMark: CHUNK }), size, onProgress);
}

export function textBytes(text: string): OutgoingBytes {
  const bytes = Buffer.from(text);
  return outgoing([bytes], bytes.length);
}

function outgoing(source: AsyncIterable<Buffer> | Iterable<Buffer>, size: number, onProgress?: (sent: number) => void): OutgoingBytes {
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
          hash.update(chunk);
          sent += chunk.length;
          onProgress?.(sent);
          yield chunk;
          // A kill -9 with half a file sent (test/copy/copy-crash.test.ts).
          if (sent * 2 >= size && (sent - chunk.length) * 2 < size) sourceCrashPoint('copy-half-sent');
        }
      } finally {
        finished();
      }
    },
    sha256: () => (digest ??= hash.digest('hex')),
    handedOut,
  };
}
