// The fixed newstyle handshake (proto.md "Fixed newstyle negotiation"): structured replies,
// meta contexts, then NBD_OPT_GO with the export and block size information.

import type { Socket } from 'node:net';
import { SendenseError } from '../errors.js';
import { protocolError } from './nbd-errors.js';
import * as P from './protocol.js';
import type { SocketReader } from './socket-reader.js';

export interface HandshakeRequest {
  readonly exportName: string;
  /** Meta contexts to ask for (e.g. base:allocation, qemu:dirty-bitmap:NAME). */
  readonly metaContexts: readonly string[];
  /** For messages: where this connection goes. */
  readonly where: string;
  readonly onGreeting?: () => void;
}

export interface ExportInfo {
  readonly size: number;
  readonly transmissionFlags: number;
  readonly structuredReplies: boolean;
  /** Negotiated meta context name -> the id the server uses in block status replies. */
  readonly metaContexts: ReadonlyMap<string, number>;
  readonly minimumBlockSize: number;
  readonly preferredBlockSize: number;
  readonly maximumPayload: number;
}

interface OptionReply {
  readonly type: number;
  readonly data: Buffer;
}

export async function negotiate(socket: Socket, reader: SocketReader, request: HandshakeRequest): Promise<ExportInfo> {
  const { where } = request;
  // proto.md "Newstyle negotiation": NBDMAGIC, IHAVEOPT, 16-bit handshake flags.
  const greeting = await reader.read(18);
  if (greeting.readBigUInt64BE(0) !== P.NBD_MAGIC) throw protocolError(where, 'not an NBD server (bad greeting magic)');
  if (greeting.readBigUInt64BE(8) !== P.IHAVEOPT) throw protocolError(where, 'oldstyle negotiation is not supported');
  const serverFlags = greeting.readUInt16BE(16);
  if (!(serverFlags & P.FLAG_FIXED_NEWSTYLE))
    throw protocolError(where, 'server does not offer fixed newstyle negotiation');
  const noZeroes = (serverFlags & P.FLAG_NO_ZEROES) !== 0;
  request.onGreeting?.();
  const clientFlags = Buffer.alloc(4);
  clientFlags.writeUInt32BE(P.FLAG_FIXED_NEWSTYLE | (noZeroes ? P.FLAG_NO_ZEROES : 0));
  socket.write(clientFlags);

  const exchange = async (option: number, data: Buffer): Promise<OptionReply> => {
    sendOption(socket, option, data);
    return readOptionReply(reader, option, where);
  };

  // proto.md "Structured replies": needed for block status and sparse reads.
  const structured = await exchange(P.OPT_STRUCTURED_REPLY, Buffer.alloc(0));
  const structuredReplies = structured.type === P.REP_ACK;
  if (!structuredReplies && !(structured.type & P.REP_FLAG_ERROR))
    throw protocolError(where, `unexpected reply ${structured.type} to NBD_OPT_STRUCTURED_REPLY`);

  const metaContexts = new Map<string, number>();
  if (structuredReplies && request.metaContexts.length > 0) {
    // proto.md "NBD_OPT_SET_META_CONTEXT": one NBD_REP_META_CONTEXT per context the server accepts, then ACK.
    sendOption(socket, P.OPT_SET_META_CONTEXT, encodeMetaContextQuery(request.exportName, request.metaContexts));
    for (;;) {
      const reply = await readOptionReply(reader, P.OPT_SET_META_CONTEXT, where);
      if (reply.type === P.REP_ACK) break;
      if (reply.type === P.REP_META_CONTEXT) {
        metaContexts.set(reply.data.subarray(4).toString('utf8'), reply.data.readUInt32BE(0));
        continue;
      }
      if (reply.type === P.REP_ERR_UNKNOWN) throw noSuchExport(where, request.exportName);
      // Any other error: the server cannot do meta contexts; callers see the context is missing.
      if (reply.type & P.REP_FLAG_ERROR) break;
      throw protocolError(where, `unexpected reply ${reply.type} to NBD_OPT_SET_META_CONTEXT`);
    }
  }

  const info = await go(socket, reader, request);
  return Object.freeze({ ...info, structuredReplies, metaContexts });
}

type GoInfo = Omit<ExportInfo, 'structuredReplies' | 'metaContexts'>;

// proto.md "NBD_OPT_GO": INFO replies (export size/flags, block sizes) until ACK.
async function go(socket: Socket, reader: SocketReader, request: HandshakeRequest): Promise<GoInfo> {
  const { where } = request;
  const name = Buffer.from(request.exportName, 'utf8');
  const data = Buffer.alloc(4 + name.length + 2 + 2);
  data.writeUInt32BE(name.length, 0);
  name.copy(data, 4);
  data.writeUInt16BE(1, 4 + name.length);
  data.writeUInt16BE(P.INFO_BLOCK_SIZE, 6 + name.length);
  sendOption(socket, P.OPT_GO, data);
  let size: number | undefined;
  let transmissionFlags = 0;
  let minimumBlockSize = 1;
  let preferredBlockSize = 4096;
  let maximumPayload = P.DEFAULT_MAX_PAYLOAD;
  for (;;) {
    const reply = await readOptionReply(reader, P.OPT_GO, where);
    if (reply.type === P.REP_ACK) break;
    if (reply.type === P.REP_INFO) {
      const infoType = reply.data.readUInt16BE(0);
      if (infoType === P.INFO_EXPORT) {
        size = Number(reply.data.readBigUInt64BE(2));
        transmissionFlags = reply.data.readUInt16BE(10);
      } else if (infoType === P.INFO_BLOCK_SIZE) {
        minimumBlockSize = reply.data.readUInt32BE(2);
        preferredBlockSize = reply.data.readUInt32BE(6);
        maximumPayload = Math.min(reply.data.readUInt32BE(10), P.DEFAULT_MAX_PAYLOAD);
      }
      continue;
    }
    if (reply.type === P.REP_ERR_UNKNOWN) throw noSuchExport(where, request.exportName);
    const serverText = reply.data.toString('utf8');
    const detail = serverText ? ` (${serverText})` : '';
    throw new SendenseError(
      `NBD server ${where} refused export '${request.exportName}': ${P.REP_ERROR_NAMES[reply.type] ?? reply.type}${detail}`,
    );
  }
  if (size === undefined) throw protocolError(where, 'NBD_OPT_GO finished without NBD_INFO_EXPORT');
  return { size, transmissionFlags, minimumBlockSize, preferredBlockSize, maximumPayload };
}

function noSuchExport(where: string, exportName: string): SendenseError {
  return new SendenseError(`NBD server ${where} has no export named '${exportName}'`);
}

function sendOption(socket: Socket, option: number, data: Buffer): void {
  // proto.md "Option haggling": IHAVEOPT, option, length, data.
  const header = Buffer.alloc(16);
  header.writeBigUInt64BE(P.IHAVEOPT, 0);
  header.writeUInt32BE(option, 8);
  header.writeUInt32BE(data.length, 12);
  socket.write(data.length > 0 ? Buffer.concat([header, data]) : header);
}

async function readOptionReply(reader: SocketReader, option: number, where: string): Promise<OptionReply> {
  const header = await reader.read(20);
  if (header.readBigUInt64BE(0) !== P.OPTION_REPLY_MAGIC) throw protocolError(where, 'bad option reply magic');
  const repliedOption = header.readUInt32BE(8);
  const type = header.readUInt32BE(12);
  const length = header.readUInt32BE(16);
  if (repliedOption !== option) throw protocolError(where, `reply for option ${repliedOption}, expected ${option}`);
  const data = length > 0 ? Buffer.from(await reader.read(length)) : Buffer.alloc(0);
  return { type, data };
}

function encodeMetaContextQuery(exportName: string, queries: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  const name = Buffer.from(exportName, 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(name.length);
  parts.push(head, name);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(queries.length);
  parts.push(count);
  for (const query of queries) {
    const bytes = Buffer.from(query, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  }
  return Buffer.concat(parts);
}
