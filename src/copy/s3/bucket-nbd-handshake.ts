// The bucket NBD server's side of the handshake (bucket-nbd.ts): fixed newstyle, the client
// chooses an object's export by NBD_OPT_EXPORT_NAME or NBD_OPT_GO (proto.md).

import type { Socket } from 'node:net';
import * as P from '../../nbd/protocol.js';
import type { ServedObject } from './bucket-blocks.js';

/** The export a client chose: the object's name in the copy, and the object. */
export interface ChosenExport {
  readonly name: string;
  readonly object: ServedObject;
}

// Read-only, and any number of connections may read the same export.
const EXPORT_FLAGS = P.TFLAG_HAS_FLAGS | P.TFLAG_READ_ONLY | P.TFLAG_CAN_MULTI_CONN;

// Greets the client and answers its options until it chooses an export; undefined if it aborted.
export async function negotiate(
  socket: Socket,
  input: (n: number) => Promise<Buffer>,
  objects: ReadonlyMap<string, ServedObject>,
): Promise<ChosenExport | undefined> {
  const greeting = Buffer.alloc(18);
  greeting.writeBigUInt64BE(P.NBD_MAGIC, 0);
  greeting.writeBigUInt64BE(P.IHAVEOPT, 8);
  greeting.writeUInt16BE(P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES, 16);
  socket.write(greeting);
  const clientFlags = (await input(4)).readUInt32BE(0);
  const noZeroes = (clientFlags & P.FLAG_NO_ZEROES) !== 0;
  const reply = (option: number, type: number, data?: Buffer) => optionReply(socket, option, type, data);
  let chosen: ChosenExport | undefined;
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
      answer.writeUInt16BE(EXPORT_FLAGS, 8);
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
      info.writeUInt16BE(EXPORT_FLAGS, 10);
      reply(option, P.REP_INFO, info);
      reply(option, P.REP_ACK);
      if (option === P.OPT_GO) chosen = { name, object };
    } else if (option === P.OPT_ABORT) {
      reply(option, P.REP_ACK);
      socket.end();
      return undefined;
    } else {
      reply(option, P.REP_ERR_UNSUP);
    }
  }
  return chosen;
}

function optionReply(socket: Socket, option: number, type: number, data: Buffer = Buffer.alloc(0)): void {
  const head = Buffer.alloc(20);
  head.writeBigUInt64BE(P.OPTION_REPLY_MAGIC, 0);
  head.writeUInt32BE(option, 8);
  head.writeUInt32BE(type >>> 0, 12);
  head.writeUInt32BE(data.length, 16);
  socket.write(Buffer.concat([head, data]));
}
