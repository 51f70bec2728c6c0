// Parses the transmission phase replies (proto.md "Simple reply message" and "Structured reply
// chunk message") as bytes arrive and hands each one to the request it answers, matched by
// handle. READ data goes straight into the request's buffer: the socket reads into it directly
// (nextBuffer), so a copied disk byte is neither copied in user space nor put in fresh memory.

import type { SendenseError } from '../errors.js';
import type { Extent } from './extent.js';
import { protocolError, serverRequestError } from './nbd-errors.js';
import * as P from './protocol.js';

export interface PendingRequest {
  readonly command: number;
  readonly offset: number;
  readonly length: number;
  /** READ: where the data goes. */
  readonly into?: Buffer;
  readonly intoOffset?: number;
  /** READ: bytes that arrived as data (the rest came as holes). */
  dataBytes: number;
  /** READ with structured replies: each data or hole chunk's [start, end) within the request. */
  readonly covered?: [number, number][];
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

// Reply headers and small chunks land here; big enough that many small replies take one read.
const SCRATCH_SIZE = 64 * 1024;
// proto.md "NBD_REPLY_TYPE_OFFSET_DATA": the structured header, then a 64-bit offset.
const OFFSET_DATA_HEADER_SIZE = P.STRUCTURED_REPLY_HEADER_SIZE + 8;

export class ReplyParser {
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_SIZE);
  private readonly header = Buffer.allocUnsafe(OFFSET_DATA_HEADER_SIZE);
  private headerHave = 0;
  private headerNeed = 4;
  // The reply being parsed.
  private request: PendingRequest | undefined;
  private handle = 0;
  private structured = false;
  private flags = 0;
  private type = 0;
  /** A structured chunk's payload other than READ data (block status, errors), being collected. */
  private payload: Buffer | undefined;
  private payloadHave = 0;
  /** READ data still to arrive, and where in the request's buffer it goes. */
  private dataLeft = 0;
  private dataAt = 0;
  /** The slice of a request's buffer handed to the socket by nextBuffer. */
  private direct: Buffer | undefined;
  private broken = false;

  constructor(private readonly handlers: ReplyHandlers) {}

  // Where the socket should read next: the rest of a READ's data straight into its buffer,
  // otherwise the scratch buffer.
  nextBuffer(): Buffer {
    if (this.dataLeft > 0 && !this.broken) {
      this.direct = this.request!.into!.subarray(this.dataAt, this.dataAt + this.dataLeft);
      return this.direct;
    }
    this.direct = undefined;
    return this.scratch;
  }

  // The socket put `bytes` bytes at the start of `buffer` (one nextBuffer handed out, or any other).
  received(buffer: Uint8Array, bytes: number): void {
    if (buffer === this.direct && this.direct !== undefined) {
      this.direct = undefined;
      this.dataArrived(bytes);
      return;
    }
    this.feed(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
  }

  // Parse bytes that sit in `chunk` (copied out before this returns; `chunk` may be reused).
  feed(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.broken) {
      const left = chunk.length - at;
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, left);
        chunk.copy(this.request!.into!, this.dataAt, at, at + n);
        at += n;
        this.dataArrived(n);
      } else if (this.payload !== undefined) {
        const n = Math.min(this.payload.length - this.payloadHave, left);
        chunk.copy(this.payload, this.payloadHave, at, at + n);
        at += n;
        this.payloadHave += n;
        if (this.payloadHave === this.payload.length) this.payloadComplete();
      } else {
        const n = Math.min(this.headerNeed - this.headerHave, left);
        chunk.copy(this.header, this.headerHave, at, at + n);
        at += n;
        this.headerHave += n;
        if (this.headerHave === this.headerNeed) this.headerComplete();
      }
    }
  }

  private dataArrived(bytes: number): void {
    this.dataAt += bytes;
    this.dataLeft -= bytes;
    this.request!.dataBytes += bytes;
    if (this.dataLeft === 0) this.replyPartDone();
  }

  private headerComplete(): void {
    if (this.headerNeed === 4) {
      const magic = this.header.readUInt32BE(0);
      if (magic === P.SIMPLE_REPLY_MAGIC) this.headerNeed = P.SIMPLE_REPLY_HEADER_SIZE;
      else if (magic === P.STRUCTURED_REPLY_MAGIC) this.headerNeed = P.STRUCTURED_REPLY_HEADER_SIZE;
      else this.fail(`bad reply magic 0x${magic.toString(16)}`);
      this.structured = magic === P.STRUCTURED_REPLY_MAGIC;
      return;
    }
    if (!this.structured) return this.simpleHeader();
    if (this.headerNeed === OFFSET_DATA_HEADER_SIZE) return this.offsetDataHeader();
    this.structuredHeader();
  }

  // proto.md "Simple reply message": magic, error, handle, then data for a successful READ.
  private simpleHeader(): void {
    const errno = this.header.readUInt32BE(4);
    this.handle = this.header.readUInt32BE(12);
    const request = this.handlers.peekPending(this.handle);
    if (request === undefined) return this.fail(`simple reply for unknown handle ${this.handle}`);
    this.request = request;
    if (errno !== 0) {
      this.handlers.take(this.handle);
      request.reject(serverError(this.handlers.where, request, errno, ''));
      return this.nextReply();
    }
    if (request.command === P.CMD_READ && request.length > 0) {
      this.dataAt = request.intoOffset!;
      this.dataLeft = request.length;
      return;
    }
    this.replyPartDone();
  }

  // proto.md "Structured reply chunk message": magic, flags, type, handle, length, payload.
  private structuredHeader(): void {
    this.flags = this.header.readUInt16BE(4);
    this.type = this.header.readUInt16BE(6);
    this.handle = this.header.readUInt32BE(12);
    const length = this.header.readUInt32BE(16);
    const request = this.handlers.peekPending(this.handle);
    if (request === undefined) return this.fail(`structured reply for unknown handle ${this.handle}`);
    this.request = request;
    if (this.type === P.REPLY_TYPE_OFFSET_DATA) {
      if (length < 8) return this.fail('malformed OFFSET_DATA chunk');
      this.headerNeed = OFFSET_DATA_HEADER_SIZE;
      return;
    }
    if (length === 0) return this.payloadComplete();
    this.payload = Buffer.allocUnsafe(length);
    this.payloadHave = 0;
  }

  // proto.md "NBD_REPLY_TYPE_OFFSET_DATA": 64-bit offset, then the data.
  private offsetDataHeader(): void {
    const request = this.request!;
    const bytes = this.header.readUInt32BE(16) - 8;
    const at = Number(this.header.readBigUInt64BE(P.STRUCTURED_REPLY_HEADER_SIZE)) - request.offset;
    if (request.into === undefined || at < 0 || at + bytes > request.length)
      return this.fail(`OFFSET_DATA outside the READ at ${request.offset}`);
    this.dataAt = request.intoOffset! + at;
    this.dataLeft = bytes;
    if (bytes > 0) request.covered?.push([at, at + bytes]);
    if (bytes === 0) this.replyPartDone();
  }

  private payloadComplete(): void {
    const payload = this.payload ?? Buffer.alloc(0);
    this.payload = undefined;
    const problem = applyChunk(payload, this.type, this.request!, this.handlers.where);
    if (problem !== undefined) return this.fail(problem);
    this.replyPartDone();
  }

  // A simple reply, or a structured chunk, is complete; the last chunk settles the request.
  private replyPartDone(): void {
    const request = this.request!;
    if (!this.structured || this.flags & P.REPLY_FLAG_DONE) {
      // A read answered as done must have had every byte once, as data or as a hole: a byte no
      // chunk wrote would be returned as whatever its buffer held (proto.md "Structured reply chunk
      // message": chunks MUST NOT overlap, and a successful read covers the whole request).
      const gap = this.structured && request.error === undefined ? uncovered(request) : undefined;
      if (gap !== undefined) return this.fail(gap);
      this.handlers.take(this.handle);
      if (request.error !== undefined) request.reject(request.error);
      else request.resolve();
    }
    this.nextReply();
  }

  private nextReply(): void {
    this.request = undefined;
    this.headerHave = 0;
    this.headerNeed = 4;
    this.flags = 0;
    this.dataLeft = 0;
  }

  private fail(message: string): void {
    this.broken = true;
    this.handlers.fatal(protocolError(this.handlers.where, message));
  }
}

// What of a structured READ no chunk answered, or answered twice; undefined when every byte came once.
function uncovered(request: PendingRequest): string | undefined {
  if (request.covered === undefined) return undefined;
  const chunks = [...request.covered].sort((a, b) => a[0] - b[0]);
  let end = 0;
  for (const [from, to] of chunks) {
    if (from < end) return `the READ at ${request.offset} got two chunks for offset ${request.offset + from}`;
    if (from > end) break;
    end = to;
  }
  return end === request.length
    ? undefined
    : `the READ at ${request.offset} (${request.length} bytes) was answered as done with no data for offset ${request.offset + end}`;
}

// Apply one structured chunk's payload (other than OFFSET_DATA) to its request; returns a protocol problem, if any.
function applyChunk(payload: Buffer, type: number, request: PendingRequest, where: string): string | undefined {
  const length = payload.length;
  switch (type) {
    case P.REPLY_TYPE_NONE:
      return undefined;
    case P.REPLY_TYPE_OFFSET_HOLE: {
      // proto.md "NBD_REPLY_TYPE_OFFSET_HOLE": 64-bit offset, 32-bit size; reads as zeroes.
      if (length !== 12) return 'malformed OFFSET_HOLE chunk';
      const at = Number(payload.readBigUInt64BE(0)) - request.offset;
      const size = payload.readUInt32BE(8);
      if (request.into === undefined || at < 0 || at + size > request.length)
        return `OFFSET_HOLE outside the READ at ${request.offset}`;
      request.into.fill(0, request.intoOffset! + at, request.intoOffset! + at + size);
      if (size > 0) request.covered?.push([at, at + size]);
      return undefined;
    }
    case P.REPLY_TYPE_BLOCK_STATUS: {
      // proto.md "NBD_REPLY_TYPE_BLOCK_STATUS": context id, then (length, flags) pairs.
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
      if (length < 6) return 'malformed error chunk';
      const errno = payload.readUInt32BE(0);
      const messageLength = payload.readUInt16BE(4);
      const message = payload.subarray(6, 6 + messageLength).toString('utf8');
      request.error ??= serverError(where, request, errno, message);
      return undefined;
    }
    default:
      // proto.md: an unknown error type is still an error; an unknown other type breaks the protocol.
      if (type & (1 << 15)) {
        request.error ??= serverError(where, request, 5, `unknown error reply type ${type}`);
        return undefined;
      }
      return `unknown structured reply type ${type}`;
  }
}

function serverError(where: string, request: PendingRequest, errno: number, message: string): SendenseError {
  return serverRequestError(
    where,
    P.COMMAND_NAMES[request.command] ?? `command ${request.command}`,
    request.offset,
    request.length,
    errno,
    message,
  );
}
