// A READ answered with structured chunks must have had every byte exactly once, as data or as a
// hole, before it counts as done (src/nbd/replies.ts): a byte no chunk wrote would be returned as
// whatever its buffer held, silently. No real server breaks the protocol this way (qemu-nbd and
// nbdkit cover each read), so the server here is a fake that answers each READ with the chunks a
// test gives it; the client is the real one.

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NbdConnection } from '../../src/nbd/index.js';
import * as P from '../../src/nbd/protocol.js';

const SIZE = 1024 * 1024;

interface Chunk {
  readonly type: 'data' | 'hole';
  /** Within the READ. */
  readonly at: number;
  readonly length: number;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

// A fake NBD server on a Unix socket: fixed newstyle, structured replies, one export of SIZE bytes
// whose every byte is 0x5a; each READ is answered with `chunks(length)`, the last one marked done.
async function fakeServer(chunks: (length: number) => Chunk[]): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nbd-fake-'));
  const socketPath = path.join(dir, 'nbd.sock');
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    void serve(socket, chunks).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return socketPath;
}

async function serve(socket: Socket, chunks: (length: number) => Chunk[]): Promise<void> {
  let buffered = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  socket.on('data', (data: Buffer) => {
    buffered = Buffer.concat([buffered, data]);
    wake?.();
  });
  const take = async (n: number): Promise<Buffer> => {
    while (buffered.length < n) await new Promise<void>((resolve) => (wake = resolve));
    const bytes = buffered.subarray(0, n);
    buffered = buffered.subarray(n);
    return bytes;
  };
  const greeting = Buffer.alloc(18);
  greeting.writeBigUInt64BE(P.NBD_MAGIC, 0);
  greeting.writeBigUInt64BE(P.IHAVEOPT, 8);
  greeting.writeUInt16BE(P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES, 16);
  socket.write(greeting);
  await take(4);
  const optionReply = (option: number, type: number, data = Buffer.alloc(0)) => {
    const head = Buffer.alloc(20);
    head.writeBigUInt64BE(P.OPTION_REPLY_MAGIC, 0);
    head.writeUInt32BE(option, 8);
    head.writeUInt32BE(type >>> 0, 12);
    head.writeUInt32BE(data.length, 16);
    socket.write(Buffer.concat([head, data]));
  };
  for (;;) {
    const head = await take(16);
    const option = head.readUInt32BE(8);
    await take(head.readUInt32BE(12));
    if (option === P.OPT_GO) {
      const info = Buffer.alloc(12);
      info.writeUInt16BE(P.INFO_EXPORT, 0);
      info.writeBigUInt64BE(BigInt(SIZE), 2);
      info.writeUInt16BE(P.TFLAG_HAS_FLAGS | P.TFLAG_READ_ONLY, 10);
      optionReply(option, P.REP_INFO, info);
      optionReply(option, P.REP_ACK);
      break;
    }
    optionReply(option, option === P.OPT_STRUCTURED_REPLY ? P.REP_ACK : P.REP_ERR_UNSUP);
  }
  for (;;) {
    const request = await take(P.REQUEST_HEADER_SIZE);
    const type = request.readUInt16BE(6);
    if (type === P.CMD_DISC) return void socket.end();
    const handle = request.subarray(8, 16);
    const offset = request.readBigUInt64BE(16);
    const answer = chunks(request.readUInt32BE(24));
    answer.forEach((chunk, index) => {
      const payload =
        chunk.type === 'data' ? Buffer.concat([Buffer.alloc(8), Buffer.alloc(chunk.length, 0x5a)]) : Buffer.alloc(12);
      payload.writeBigUInt64BE(offset + BigInt(chunk.at), 0);
      if (chunk.type === 'hole') payload.writeUInt32BE(chunk.length, 8);
      const header = Buffer.alloc(P.STRUCTURED_REPLY_HEADER_SIZE);
      header.writeUInt32BE(P.STRUCTURED_REPLY_MAGIC, 0);
      header.writeUInt16BE(index === answer.length - 1 ? P.REPLY_FLAG_DONE : 0, 4);
      header.writeUInt16BE(chunk.type === 'data' ? P.REPLY_TYPE_OFFSET_DATA : P.REPLY_TYPE_OFFSET_HOLE, 6);
      handle.copy(header, 8);
      header.writeUInt32BE(payload.length, 16);
      socket.write(Buffer.concat([header, payload]));
    });
  }
}

async function readFrom(socketPath: string, length: number): Promise<Buffer> {
  const connection = await NbdConnection.connect({ kind: 'unix', socketPath, exportName: 'x' });
  cleanups.push(() => connection.destroy());
  expect(connection.info.structuredReplies).toBe(true);
  // Buffers that held other bytes before: what a chunk does not write stays 0xee.
  const into = Buffer.alloc(length, 0xee);
  return (await connection.read(0, length, into)).data;
}

describe('a structured READ must cover every byte once (a fake server that breaks the protocol)', () => {
  it('reads data and holes that cover the whole request, in any order', async () => {
    const socket = await fakeServer((length) => [
      { type: 'data', at: length / 2, length: length / 2 },
      { type: 'hole', at: 0, length: length / 2 },
    ]);
    const data = await readFrom(socket, 65536);
    expect(data.subarray(0, 32768).equals(Buffer.alloc(32768, 0))).toBe(true);
    expect(data.subarray(32768).equals(Buffer.alloc(32768, 0x5a))).toBe(true);
  });

  it('refuses a READ answered as done with half of it missing, instead of returning the buffer as it was', async () => {
    const socket = await fakeServer((length) => [{ type: 'data', at: 0, length: length / 2 }]);
    await expect(readFrom(socket, 65536)).rejects.toThrow(/answered as done with no data for offset 32768/);
  });

  it('refuses chunks that overlap', async () => {
    const socket = await fakeServer((length) => [
      { type: 'data', at: 0, length: length / 2 + 4096 },
      { type: 'hole', at: length / 2, length: length / 2 },
    ]);
    await expect(readFrom(socket, 65536)).rejects.toThrow(/got two chunks for offset 32768/);
  });
});
