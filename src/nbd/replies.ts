// Parses the transmission phase replies (proto.md "Simple reply message" and "Structured reply
// chunk message") and hands each one to the request it answers, matched by handle.

import { SendenseError } from '../errors.js';
import type { Extent } from './extent.js';
import { protocolError, serverRequestError } from './nbd-errors.js';
import * as P from './protocol.js';
import type { SocketReader } from './socket-reader.js';

export interface PendingRequest {
  readonly command: number;
  readonly offset: number;
  readonly length: number;
  /** READ: where the data goes. */
  readonly into?: Buffer;
  readonly intoOffset?: number;
  /** READ: bytes that arrived as data (the rest came as holes). */
  dataBytes: number;
  /** BLOCK_STATUS: extents per context id. */
  readonly extents?: Map<number, Extent[]>;
  /** An error chunk arrived; reported once the final chunk is in. */
  error?: SendenseError;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export interface ReplyHandlers {
  readonly where: string;
  take(handle: number): PendingRequest | undefined;
  peekPending(handle: number): PendingRequest | undefined;
  /** A reply the protocol cannot explain: the connection must die. */
  fatal(error: SendenseError): void;
}

// Parse every complete reply the reader holds; stop at the first incomplete one.
export function drainReplies(reader: SocketReader, handlers: ReplyHandlers): void {
  while (reader.length >= 4) {
    const magic = reader.peek(4).readUInt32BE(0);
    const consumed =
      magic === P.SIMPLE_REPLY_MAGIC
        ? simpleReply(reader, handlers)
        : magic === P.STRUCTURED_REPLY_MAGIC
          ? structuredChunk(reader, handlers)
          : fail(handlers, `bad reply magic 0x${magic.toString(16)}`);
    if (!consumed) return;
  }
}

function fail(handlers: ReplyHandlers, message: string): false {
  handlers.fatal(protocolError(handlers.where, message));
  return false;
}

// proto.md "Simple reply message": magic, error, handle, then data for a successful READ.
function simpleReply(reader: SocketReader, handlers: ReplyHandlers): boolean {
  if (reader.length < P.SIMPLE_REPLY_HEADER_SIZE) return false;
  const header = reader.peek(P.SIMPLE_REPLY_HEADER_SIZE);
  const errno = header.readUInt32BE(4);
  const handle = header.readUInt32BE(12);
  const request = handlers.peekPending(handle);
  if (request === undefined) return fail(handlers, `simple reply for unknown handle ${handle}`);
  const hasData = request.command === P.CMD_READ && errno === 0;
  if (hasData && reader.length < P.SIMPLE_REPLY_HEADER_SIZE + request.length) return false;
  reader.skip(P.SIMPLE_REPLY_HEADER_SIZE);
  handlers.take(handle);
  if (errno !== 0) {
    request.reject(serverError(handlers.where, request, errno, ''));
    return true;
  }
  if (hasData) {
    reader.takeInto(request.into!, request.intoOffset!, request.length);
    request.dataBytes = request.length;
  }
  request.resolve();
  return true;
}

// proto.md "Structured reply chunk message": magic, flags, type, handle, length, payload.
function structuredChunk(reader: SocketReader, handlers: ReplyHandlers): boolean {
  if (reader.length < P.STRUCTURED_REPLY_HEADER_SIZE) return false;
  const header = reader.peek(P.STRUCTURED_REPLY_HEADER_SIZE);
  const flags = header.readUInt16BE(4);
  const type = header.readUInt16BE(6);
  const handle = header.readUInt32BE(12);
  const length = header.readUInt32BE(16);
  if (reader.length < P.STRUCTURED_REPLY_HEADER_SIZE + length) return false;
  const request = handlers.peekPending(handle);
  if (request === undefined) return fail(handlers, `structured reply for unknown handle ${handle}`);
  reader.skip(P.STRUCTURED_REPLY_HEADER_SIZE);
  const problem = applyChunk(reader, type, length, request, handlers.where);
  if (problem !== undefined) return fail(handlers, problem);
  if (flags & P.REPLY_FLAG_DONE) {
    handlers.take(handle);
    if (request.error !== undefined) request.reject(request.error);
    else request.resolve();
  }
  return true;
}

// Consume one chunk's payload into its request; returns a protocol problem, if any.
function applyChunk(reader: SocketReader, type: number, length: number, request: PendingRequest, where: string): string | undefined {
  switch (type) {
    case P.REPLY_TYPE_NONE:
      reader.skip(length);
      return undefined;
    case P.REPLY_TYPE_OFFSET_DATA: {
      // proto.md "NBD_REPLY_TYPE_OFFSET_DATA": 64-bit offset, then the data.
      const offset = Number(reader.take(8).readBigUInt64BE(0));
      const bytes = length - 8;
      const at = offset - request.offset;
      if (request.into === undefined || at < 0 || at + bytes > request.length) return `OFFSET_DATA outside the READ at ${request.offset}`;
      reader.takeInto(request.into, request.intoOffset! + at, bytes);
      request.dataBytes += bytes;
      return undefined;
    }
    case P.REPLY_TYPE_OFFSET_HOLE: {
      // proto.md "NBD_REPLY_TYPE_OFFSET_HOLE": 64-bit offset, 32-bit size; reads as zeroes.
      const payload = reader.take(12);
      const at = Number(payload.readBigUInt64BE(0)) - request.offset;
      const size = payload.readUInt32BE(8);
      if (request.into === undefined || at < 0 || at + size > request.length) return `OFFSET_HOLE outside the READ at ${request.offset}`;
      request.into.fill(0, request.intoOffset! + at, request.intoOffset! + at + size);
      return undefined;
    }
    case P.REPLY_TYPE_BLOCK_STATUS: {
      // proto.md "NBD_REPLY_TYPE_BLOCK_STATUS": context id, then (length, flags) pairs.
      const payload = reader.take(length);
      if (request.extents === undefined || length < 12 || (length - 4) % 8 !== 0) return 'malformed BLOCK_STATUS chunk';
      const contextId = payload.readUInt32BE(0);
      const extents: Extent[] = [];
      let offset = request.offset;
      for (let at = 4; at < length; at += 8) {
        const extentLength = payload.readUInt32BE(at);
        extents.push(Object.freeze({ offset, length: extentLength, flags: payload.readUInt32BE(at + 4) }));
        offset += extentLength;
      }
      request.extents.set(contextId, extents);
      return undefined;
    }
    case P.REPLY_TYPE_ERROR:
    case P.REPLY_TYPE_ERROR_OFFSET: {
      // proto.md "NBD_REPLY_TYPE_ERROR(_OFFSET)": errno, message length, message[, offset].
      const payload = reader.take(length);
      const errno = payload.readUInt32BE(0);
      const messageLength = payload.readUInt16BE(4);
      const message = payload.subarray(6, 6 + messageLength).toString('utf8');
      request.error ??= serverError(where, request, errno, message);
      return undefined;
    }
    default:
      reader.skip(length);
      // proto.md: an unknown error type is still an error; an unknown other type breaks the protocol.
      if (type & (1 << 15)) {
        request.error ??= serverError(where, request, 5, `unknown error reply type ${type}`);
        return undefined;
      }
      return `unknown structured reply type ${type}`;
  }
}

function serverError(where: string, request: PendingRequest, errno: number, message: string): SendenseError {
  return serverRequestError(where, P.COMMAND_NAMES[request.command] ?? `command ${request.command}`, request.offset, request.length, errno, message);
}
