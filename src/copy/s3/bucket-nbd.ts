// An NBD server on a Unix socket that serves objects of a bucket, read-only, one export per object
// (named by its path in the copy): what qemu-storage-daemon reads the files of a bucket view from
// (bucket-view.ts; docs/copies.md#reading-straight-from-a-bucket). Fixed newstyle negotiation
// (NBD_OPT_GO, NBD_OPT_EXPORT_NAME), simple replies, NBD_CMD_READ (proto.md).
//
// Reads are served from blocks of the objects read ahead in ranged GETs (bucket-blocks.ts).

import { createServer, type Server, type Socket } from 'node:net';
import * as P from '../../nbd/protocol.js';
import { bucketBlocks, type BlockRead, type RangeGet, type ServedObject } from './bucket-blocks.js';

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
  const greeting = Buffer.alloc(18);
  greeting.writeBigUInt64BE(P.NBD_MAGIC, 0);
  greeting.writeBigUInt64BE(P.IHAVEOPT, 8);
  greeting.writeUInt16BE(P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES, 16);
  socket.write(greeting);
  const clientFlags = (await input(4)).readUInt32BE(0);
  const noZeroes = (clientFlags & P.FLAG_NO_ZEROES) !== 0;
  const reply = (option: number, type: number, data: Buffer = Buffer.alloc(0)) => {
    const head = Buffer.alloc(20);
    head.writeBigUInt64BE(P.OPTION_REPLY_MAGIC, 0);
    head.writeUInt32BE(option, 8);
    head.writeUInt32BE(type >>> 0, 12);
    head.writeUInt32BE(data.length, 16);
    socket.write(Buffer.concat([head, data]));
  };
  const flags = P.TFLAG_HAS_FLAGS | P.TFLAG_READ_ONLY | P.TFLAG_CAN_MULTI_CONN;
  let chosen: { name: string; object: ServedObject } | undefined;
  while (chosen === undefined) {
    const head = await input(16);
    if (head.readBigUInt64BE(0) !== P.IHAVEOPT) throw new Error('not an NBD option');
    const option = head.readUInt32BE(8);
    const data = await input(head.readUInt32BE(12));
    if (option === P.OPT_EXPORT_NAME) {
      const name = data.toString('utf8');
      const object = objects.get(name);
      if (object === undefined) throw new Error(`no export ${name}`);
      const answer = Buffer.alloc(noZeroes ? 10 : 134);
      answer.writeBigUInt64BE(BigInt(object.size), 0);
      answer.writeUInt16BE(flags, 8);
      socket.write(answer);
      chosen = { name, object };
    } else if (option === P.OPT_GO || option === P.OPT_INFO) {
      const name = data.toString('utf8', 4, 4 + data.readUInt32BE(0));
      const object = objects.get(name);
      if (object === undefined) {
        reply(option, P.REP_ERR_UNKNOWN);
        continue;
      }
      const info = Buffer.alloc(12);
      info.writeUInt16BE(P.INFO_EXPORT, 0);
      info.writeBigUInt64BE(BigInt(object.size), 2);
      info.writeUInt16BE(flags, 10);
      reply(option, P.REP_INFO, info);
      reply(option, P.REP_ACK);
      if (option === P.OPT_GO) chosen = { name, object };
    } else if (option === P.OPT_ABORT) {
      reply(option, P.REP_ACK);
      socket.end();
      return;
    } else {
      reply(option, P.REP_ERR_UNSUP);
    }
  }
  const { name, object } = chosen;
  for (;;) {
    const request = await input(P.REQUEST_HEADER_SIZE);
    if (request.readUInt32BE(0) !== P.REQUEST_MAGIC) throw new Error('not an NBD request');
    const type = request.readUInt16BE(6);
    const handle = request.subarray(8, 16);
    const offset = Number(request.readBigUInt64BE(16));
    const length = request.readUInt32BE(24);
    // `read`'s slices are released once the socket has taken them (the write's callback, also
    // called when the socket is destroyed first): only then may their buffers be refilled.
    const answer = (error: number, read?: BlockRead) => {
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
    };
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
