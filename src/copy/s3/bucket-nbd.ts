// An NBD server on a Unix socket that serves objects of a bucket, read-only, one export per object
// (named by its path in the copy): what qemu-storage-daemon reads the files of a bucket view from
// (bucket-view.ts; docs/copies.md#reading-straight-from-a-bucket). Fixed newstyle negotiation
// (NBD_OPT_GO, NBD_OPT_EXPORT_NAME), simple replies, NBD_CMD_READ (proto.md).
//
// Reads are served from blocks of the objects read ahead in ranged GETs (bucket-blocks.ts).

import { createServer, type Server, type Socket } from 'node:net';
import * as P from '../../nbd/protocol.js';
import { bucketBlocks, type BlockRead, type RangeGet, type ServedObject } from './bucket-blocks.js';
import { negotiate } from './bucket-nbd-handshake.js';

export type { ServedObject } from './bucket-blocks.js';

const EIO = 5;
const EPERM = 1;
const EINVAL = 22;

export interface BucketNbd {
  served(): { readonly requests: number; readonly bytes: number };
  close(): Promise<void>;
}

export async function serveBucketNbd(
  get: RangeGet,
  objects: ReadonlyMap<string, ServedObject>,
  socketPath: string,
  readAhead?: number,
): Promise<BucketNbd> {
  const blocks = bucketBlocks(get, readAhead);
  const readRange = blocks.read;

  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    serveConnection(socket, objects, readRange).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    served: blocks.served,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

type ReadRange = (name: string, object: ServedObject, offset: number, length: number) => Promise<BlockRead>;

// One client: the handshake, then its requests, each answered when its bytes are there (replies
// may come in another order than the requests: the client matches them by handle).
async function serveConnection(
  socket: Socket,
  objects: ReadonlyMap<string, ServedObject>,
  readRange: ReadRange,
): Promise<void> {
  const input = byteReader(socket);
  const chosen = await negotiate(socket, input, objects);
  if (chosen === undefined) return;
  const { name, object } = chosen;
  for (;;) {
    const request = await input(P.REQUEST_HEADER_SIZE);
    if (request.readUInt32BE(0) !== P.REQUEST_MAGIC) throw new Error('not an NBD request');
    const type = request.readUInt16BE(6);
    const handle = request.subarray(8, 16);
    const offset = Number(request.readBigUInt64BE(16));
    const length = request.readUInt32BE(24);
    const answer = (error: number, read?: BlockRead) => simpleReply(socket, handle, error, read);
    if (type === P.CMD_DISC) {
      socket.end();
      return;
    }
    if (type === P.CMD_WRITE) await input(length);
    if (type !== P.CMD_READ) {
      answer(type === P.CMD_FLUSH ? 0 : type === P.CMD_WRITE || type === P.CMD_WRITE_ZEROES ? EPERM : EINVAL);
      continue;
    }
    if (offset + length > object.size) {
      answer(EINVAL);
      continue;
    }
    readRange(name, object, offset, length).then(
      (data) => answer(0, data),
      () => answer(EIO),
    );
  }
}

// `read`'s slices are released once the socket has taken them (the write's callback, also
// called when the socket is destroyed first): only then may their buffers be refilled.
function simpleReply(socket: Socket, handle: Buffer, error: number, read?: BlockRead): void {
  const head = Buffer.alloc(P.SIMPLE_REPLY_HEADER_SIZE);
  head.writeUInt32BE(P.SIMPLE_REPLY_MAGIC, 0);
  head.writeUInt32BE(error, 4);
  handle.copy(head, 8);
  if (socket.destroyed) return read?.release();
  // The reply's head and the slices of the blocks it reads, in one writev, none copied.
  const slices = read?.slices ?? [];
  socket.cork();
  socket.write(head);
  slices.forEach((slice, at) => socket.write(slice, at === slices.length - 1 ? () => read!.release() : undefined));
  socket.uncork();
  if (slices.length === 0) read?.release();
}

// Exactly `n` bytes from the socket, in order; rejects once it ends.
function byteReader(socket: Socket): (n: number) => Promise<Buffer> {
  let buffered: Buffer = Buffer.alloc(0);
  let waiting: { n: number; resolve: (bytes: Buffer) => void; reject: (error: Error) => void } | undefined;
  let ended = false;
  const settle = () => {
    if (waiting === undefined) return;
    if (buffered.length >= waiting.n) {
      const { n, resolve } = waiting;
      waiting = undefined;
      const bytes = buffered.subarray(0, n);
      buffered = buffered.subarray(n);
      resolve(bytes);
    } else if (ended) {
      const { reject } = waiting;
      waiting = undefined;
      reject(new Error('the client went away'));
    }
  };
  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    settle();
  });
  socket.once('close', () => {
    ended = true;
    settle();
  });
  return (n) =>
    new Promise((resolve, reject) => {
      waiting = { n, resolve, reject };
      settle();
    });
}
