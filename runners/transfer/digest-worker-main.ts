// The digest thread's own code (bundled on its own into a string by scripts/transfer-bundle.js and
// started by DigestThread): hashes the ranges the copy hands it, straight from the shared memory
// of the copy's buffers, so the copy's event loop never waits for a hash.

import { parentPort } from 'node:worker_threads';
import { rangeDigest } from '../../src/repository/range-digest.js';

export interface DigestRequest {
  readonly id: number;
  readonly algorithm: string;
  readonly memory: SharedArrayBuffer;
  readonly offset: number;
  readonly length: number;
}

export type DigestReply =
  { readonly id: number; readonly digest: string } | { readonly id: number; readonly error: string };

parentPort!.on('message', (request: DigestRequest) => {
  rangeDigest(request.algorithm, new Uint8Array(request.memory, request.offset, request.length)).then(
    (digest) => parentPort!.postMessage({ id: request.id, digest } satisfies DigestReply),
    (error: unknown) =>
      parentPort!.postMessage({
        id: request.id,
        error: error instanceof Error ? error.message : String(error),
      } satisfies DigestReply),
  );
});
