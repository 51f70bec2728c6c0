// A file's chunks read and hashed (sha256) on a worker thread (docs/copies.md#what-is-sent): the
// hub's main thread is left to the SSH link's packets, whose encryption runs there. Each chunk is
// read into its own buffer and handed over whole (transferred, not copied); the worker reads only
// a few chunks ahead of what was taken. The file is opened and closed here, not in the worker: a
// worker's end closes no descriptor, so a copy that stops early would keep the file open.

import { open } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';

/** Bytes of the file's first chunk sent as others (a backing file's name: docs/copies.md#retention). */
export interface BytePatch {
  readonly offset: number;
  readonly bytes: Buffer;
}

export interface HashedChunks extends AsyncIterable<Buffer> {
  /** The sha256 (hex) of every chunk handed out, once the last one is. */
  digest(): string | undefined;
}

// Chunks read ahead of the one taken: enough that the link never waits on the disk.
const AHEAD = 4;

type FromWorker =
  | { readonly type: 'chunk'; readonly buffer: ArrayBuffer; readonly length: number }
  | { readonly type: 'end'; readonly digest: string }
  | { readonly type: 'error'; readonly message: string };

// The worker's program (CommonJS, run from this text: the CLI is one bundle). It reads a chunk of
// the descriptor it is given each time it is asked, the patch applied to the first one, and says
// the digest after the last.
const WORKER = `
const { readSync } = require('node:fs');
const { createHash } = require('node:crypto');
const { parentPort, workerData } = require('node:worker_threads');
const { fd, chunk, patch } = workerData;
const hash = createHash('sha256');
let first = true;
let done = false;
parentPort.on('message', () => {
  if (done) return;
  try {
    const buffer = Buffer.allocUnsafeSlow(chunk);
    let length = 0;
    while (length < chunk) {
      const n = readSync(fd, buffer, length, chunk - length, null);
      if (n === 0) break;
      length += n;
    }
    if (first && patch !== undefined && length > 0) {
      if (patch.offset + patch.bytes.length > length) throw new Error('a patch at ' + patch.offset + ' lies beyond the first chunk');
      Buffer.from(patch.bytes).copy(buffer, patch.offset);
    }
    first = false;
    if (length === 0) {
      done = true;
      parentPort.postMessage({ type: 'end', digest: hash.digest('hex') });
      return;
    }
    hash.update(buffer.subarray(0, length));
    parentPort.postMessage({ type: 'chunk', buffer: buffer.buffer, length }, [buffer.buffer]);
  } catch (error) {
    done = true;
    parentPort.postMessage({ type: 'error', message: error.message });
  }
});
`;

/** The chunks of `file`, `chunk` bytes each (the last one shorter), with `patch` applied. */
export function hashedFileChunks(file: string, chunk: number, patch?: BytePatch): HashedChunks {
  let digest: string | undefined;
  return {
    digest: () => digest,
    async *[Symbol.asyncIterator]() {
      const handle = await open(file, 'r');
      const worker = new Worker(WORKER, {
        eval: true,
        workerData: {
          fd: handle.fd,
          chunk,
          patch: patch && { offset: patch.offset, bytes: new Uint8Array(patch.bytes) },
        },
      });
      const arrived: FromWorker[] = [];
      let wake = (): void => {};
      let failed: Error | undefined;
      worker.on('message', (message: FromWorker) => {
        arrived.push(message);
        wake();
      });
      worker.on('error', (error) => {
        failed = error;
        wake();
      });
      try {
        for (let i = 0; i < AHEAD; i++) worker.postMessage(null);
        for (;;) {
          while (arrived.length === 0 && failed === undefined) await new Promise<void>((resolve) => (wake = resolve));
          if (failed !== undefined) throw failed;
          const message = arrived.shift()!;
          if (message.type === 'error') throw new Error(`${file}: ${message.message}`);
          if (message.type === 'end') {
            digest = message.digest;
            return;
          }
          worker.postMessage(null);
          yield Buffer.from(message.buffer, 0, message.length);
        }
      } finally {
        // Closed once the worker is gone: it may be in a read of it until then.
        await worker.terminate();
        await handle.close();
      }
    },
  };
}
