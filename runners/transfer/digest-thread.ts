// Digests off the copy's event loop: one worker thread per transfer hashes what the copies hand
// it, so the one event loop that drives every connection of every disk never waits for a hash
// (XXH64 costs ~0.3 s of CPU per GiB read cold). A range in shared memory (the copy's read
// buffers are SharedArrayBuffers) goes to the thread without a copy. The thread starts only once
// a transfer has hashed THREAD_AFTER_BYTES here: it costs ~12 MiB and ~0.1 s of CPU, more than a
// small incremental's hashing. Anything not in shared memory, and code that was not bundled
// (tests import the sources, where the thread's code does not exist), is hashed here.

import { Worker } from 'node:worker_threads';
import { SendenseError } from '../../src/errors.js';
import { rangeDigest } from '../../src/repository/range-digest.js';
import type { DigestReply, DigestRequest } from './digest-worker-main.js';

// The thread's code as one string: set by esbuild's `define` when the transfer is bundled.
declare const SENDENSE_DIGEST_WORKER: string | undefined;

export interface Digester {
  digest(algorithm: string, bytes: Uint8Array): Promise<string>;
  close(): Promise<void>;
}

const onThisThread: Digester = { digest: rangeDigest, close: async () => undefined };

const THREAD_AFTER_BYTES = 64 * 1024 * 1024;

/** `onThread` is told when the thread starts (a debug line: the tests check that it ran). */
export function startDigester(onThread: () => void = () => undefined): Digester {
  if (typeof SENDENSE_DIGEST_WORKER !== 'string') return onThisThread;
  const source = SENDENSE_DIGEST_WORKER;
  let hashedHere = 0;
  let thread: DigestThread | undefined;
  return {
    digest(algorithm, bytes) {
      if (thread === undefined && hashedHere < THREAD_AFTER_BYTES) {
        hashedHere += bytes.length;
        return rangeDigest(algorithm, bytes);
      }
      if (thread === undefined) {
        thread = new DigestThread(source);
        onThread();
      }
      return thread.digest(algorithm, bytes);
    },
    close: async () => thread?.close(),
  };
}

class DigestThread implements Digester {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (digest: string) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(source: string) {
    this.worker = new Worker(source, { eval: true });
    this.worker.on('message', (reply: DigestReply) => {
      const waiting = this.pending.get(reply.id);
      if (waiting === undefined) return;
      this.pending.delete(reply.id);
      if ('digest' in reply) waiting.resolve(reply.digest);
      else waiting.reject(new SendenseError(`digest failed: ${reply.error}`));
    });
    const fail = (error: Error): void => {
      this.failure ??= new SendenseError(`digest thread failed: ${error.message}`, { cause: error });
      for (const waiting of this.pending.values()) waiting.reject(this.failure);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
  }

  digest(algorithm: string, bytes: Uint8Array): Promise<string> {
    if (!(bytes.buffer instanceof SharedArrayBuffer)) return rangeDigest(algorithm, bytes);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const request: DigestRequest = {
        id,
        algorithm,
        memory: bytes.buffer as SharedArrayBuffer,
        offset: bytes.byteOffset,
        length: bytes.length,
      };
      this.worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
