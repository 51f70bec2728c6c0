// One NBD connection in the transmission phase (proto.md "Transmission"): many requests in
// flight, replies matched by handle, every pending request failed when the connection dies.

import { connect as netConnect, type Socket } from 'node:net';
import { SendenseError } from '../errors.js';
import type { Extent } from './extent.js';
import { negotiate, type ExportInfo } from './handshake.js';
import { connectionLostError } from './nbd-errors.js';
import { describeNbdAddress, type NbdAddress } from './nbd-url.js';
import * as P from './protocol.js';
import { ReplyParser, type PendingRequest } from './replies.js';
import { SocketReader } from './socket-reader.js';

export interface ConnectOptions {
  /** Meta contexts to negotiate, e.g. ['base:allocation', 'qemu:dirty-bitmap:b1']. */
  readonly metaContexts?: readonly string[];
  /** Give up when the server has not finished the handshake in time (e.g. it takes no more clients). */
  readonly handshakeTimeoutMs?: number;
  /** Called once the server has greeted this connection: it holds one of the server's client slots. */
  readonly onGreeting?: () => void;
}

export interface QueuedWrite {
  /** The kernel has the bytes: the buffer may be reused. */
  readonly sent: Promise<void>;
  /** The server answered. */
  readonly done: Promise<void>;
}

export interface ReadResult {
  readonly data: Buffer;
  /** Every byte arrived as a hole (NBD_REPLY_TYPE_OFFSET_HOLE): the range reads as zeroes. */
  readonly allHoles: boolean;
}

// proto.md "NBD_CMD_WRITE_ZEROES" / "NBD_CMD_BLOCK_STATUS": lengths are 32-bit; stay well inside.
const MAX_LENGTH_FIELD = 0x40000000;
const HANDSHAKE_READ_SIZE = 16 * 1024;

export class NbdConnection {
  readonly where: string;
  readonly info: ExportInfo;
  private readonly socket: Socket;
  private readonly pending = new Map<number, PendingRequest>();
  private readonly parser: ReplyParser;
  private nextHandle = 1;
  private failure: SendenseError | undefined;

  private constructor(where: string, socket: Socket, info: ExportInfo) {
    this.where = where;
    this.socket = socket;
    this.info = info;
    this.parser = new ReplyParser({
      where,
      peekPending: (handle) => this.pending.get(handle),
      take: (handle) => {
        const request = this.pending.get(handle);
        this.pending.delete(handle);
        return request;
      },
      fatal: (error) => this.destroy(error),
    });
  }

  static async connect(address: NbdAddress, options: ConnectOptions = {}): Promise<NbdConnection> {
    const where = describeNbdAddress(address);
    const reader = new SocketReader();
    let connection: NbdConnection | undefined;
    // The socket reads into buffers we hand it: the handshake's, then the reply parser's (which
    // points it straight at READ buffers), so no read allocates memory.
    const handshakeBuffer = Buffer.allocUnsafe(HANDSHAKE_READ_SIZE);
    const onread = {
      buffer: (): Uint8Array => connection?.parser.nextBuffer() ?? handshakeBuffer,
      callback: (bytes: number, buffer: Uint8Array): boolean => {
        if (connection) connection.parser.received(buffer, bytes);
        else reader.push(Buffer.from(buffer.subarray(0, bytes)));
        return true;
      },
    };
    const socket =
      address.kind === 'tcp'
        ? netConnect({ host: address.host, port: address.port, onread })
        : netConnect({ path: address.socketPath, onread });
    socket.on('error', (error) => {
      if (connection) connection.destroy(connectionLostError(where, error));
      else reader.fail(new SendenseError(`cannot connect to NBD server ${where}: ${error.message}`, { cause: error }));
    });
    socket.on('close', () => {
      if (connection) connection.destroy(connectionLostError(where));
      else reader.fail(new SendenseError(`NBD server ${where} closed the connection during the handshake`));
    });
    if (address.kind === 'tcp') socket.setNoDelay(true);
    const timer =
      options.handshakeTimeoutMs === undefined
        ? undefined
        : setTimeout(
            () =>
              reader.fail(
                new SendenseError(
                  `NBD server ${where} did not finish the handshake within ${options.handshakeTimeoutMs} ms`,
                ),
              ),
            options.handshakeTimeoutMs,
          );
    try {
      const info = await negotiate(socket, reader, {
        exportName: address.exportName,
        metaContexts: options.metaContexts ?? [],
        where,
        onGreeting: options.onGreeting,
      });
      connection = new NbdConnection(where, socket, info);
      // Bytes already buffered past the handshake belong to the transmission phase.
      if (reader.length > 0) connection.parser.feed(reader.take(reader.length));
      return connection;
    } catch (error) {
      socket.destroy();
      throw error;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  get size(): number {
    return this.info.size;
  }
  get readOnly(): boolean {
    return (this.info.transmissionFlags & P.TFLAG_READ_ONLY) !== 0;
  }
  get canMultiConn(): boolean {
    return (this.info.transmissionFlags & P.TFLAG_CAN_MULTI_CONN) !== 0;
  }
  get canWriteZeroes(): boolean {
    return (this.info.transmissionFlags & P.TFLAG_SEND_WRITE_ZEROES) !== 0;
  }
  get canFlush(): boolean {
    return (this.info.transmissionFlags & P.TFLAG_SEND_FLUSH) !== 0;
  }
  get inFlight(): number {
    return this.pending.size;
  }
  hasMetaContext(name: string): boolean {
    return this.info.metaContexts.has(name);
  }

  // NBD_CMD_READ, split at the server's maximum payload; holes arrive zero-filled.
  async read(offset: number, length: number, into: Buffer = Buffer.allocUnsafe(length)): Promise<ReadResult> {
    const max = this.info.maximumPayload;
    const parts: Promise<number>[] = [];
    for (let done = 0; done < length; done += max) {
      const count = Math.min(max, length - done);
      parts.push(
        this.request(P.CMD_READ, 0, offset + done, count, { into, intoOffset: done }).then(
          (request) => request.dataBytes,
        ),
      );
    }
    const dataBytes = (await Promise.all(parts)).reduce((sum, bytes) => sum + bytes, 0);
    return { data: into.subarray(0, length), allHoles: dataBytes === 0 };
  }

  // NBD_CMD_WRITE, split at the server's maximum payload.
  async write(offset: number, data: Buffer): Promise<void> {
    await this.writeQueued(offset, data).done;
  }

  // NBD_CMD_WRITE in two stages: `sent` once the kernel holds the bytes (`data` may be reused
  // then), `done` once the server has answered. Many writes stay in flight with few buffers.
  writeQueued(offset: number, data: Buffer): QueuedWrite {
    const max = this.info.maximumPayload;
    const parts: Promise<unknown>[] = [];
    const flushed: Promise<void>[] = [];
    for (let at = 0; at < data.length; at += max) {
      const payload = data.subarray(at, Math.min(at + max, data.length));
      let onSent: (() => void) | undefined;
      flushed.push(new Promise<void>((resolve) => (onSent = resolve)));
      parts.push(this.request(P.CMD_WRITE, 0, offset + at, payload.length, { payload, onSent }));
    }
    const done = Promise.all(parts).then(() => undefined);
    // A connection that dies before the bytes left fails `done`, so `sent` settles too.
    const sent = Promise.race([Promise.all(flushed).then(() => undefined), done]);
    sent.catch(() => undefined); // its failure is `done`'s, which the caller handles
    return { sent, done };
  }

  // NBD_CMD_WRITE_ZEROES; without noHole the server may punch holes, so sparse targets stay sparse.
  async writeZeroes(offset: number, length: number, options: { readonly noHole?: boolean } = {}): Promise<void> {
    const flags = options.noHole ? P.CMD_FLAG_NO_HOLE : 0;
    const step = this.alignDown(MAX_LENGTH_FIELD);
    const parts: Promise<unknown>[] = [];
    for (let done = 0; done < length; done += step) {
      parts.push(this.request(P.CMD_WRITE_ZEROES, flags, offset + done, Math.min(step, length - done)));
    }
    await Promise.all(parts);
  }

  async flush(): Promise<void> {
    await this.request(P.CMD_FLUSH, 0, 0, 0);
  }

  // NBD_CMD_BLOCK_STATUS: extents per negotiated context name; they may cover less than asked.
  async blockStatus(offset: number, length: number): Promise<ReadonlyMap<string, readonly Extent[]>> {
    const count = Math.min(length, this.alignDown(MAX_LENGTH_FIELD));
    const extents = new Map<number, Extent[]>();
    await this.request(P.CMD_BLOCK_STATUS, 0, offset, count, { extents });
    const byName = new Map<string, readonly Extent[]>();
    for (const [name, id] of this.info.metaContexts) {
      const list = extents.get(id);
      if (list) byName.set(name, list);
    }
    return byName;
  }

  // NBD_CMD_DISC, then close once the server has everything we sent.
  async close(): Promise<void> {
    if (this.failure !== undefined || this.socket.destroyed) return;
    this.send(P.CMD_DISC, 0, 0, 0, 0);
    this.failure = new SendenseError(`NBD connection to ${this.where} was closed`);
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
      setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, 2000).unref();
    });
  }

  // Hard close: every pending request fails with `error`.
  destroy(error: SendenseError = connectionLostError(this.where)): void {
    this.failure ??= error;
    this.socket.destroy();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const request of pending) request.reject(this.failure);
  }

  private request(
    command: number,
    flags: number,
    offset: number,
    length: number,
    extra: {
      readonly into?: Buffer;
      readonly intoOffset?: number;
      readonly payload?: Buffer;
      readonly onSent?: () => void;
      readonly extents?: Map<number, Extent[]>;
    } = {},
  ): Promise<PendingRequest> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const handle = this.nextHandle;
    this.nextHandle = (this.nextHandle + 1) >>> 0 || 1;
    return new Promise<PendingRequest>((resolve, reject) => {
      const request: PendingRequest = {
        command,
        offset,
        length,
        into: extra.into,
        intoOffset: extra.intoOffset,
        extents: extra.extents,
        dataBytes: 0,
        // Only structured replies come in chunks whose coverage must be checked (replies.ts).
        ...(command === P.CMD_READ && this.info.structuredReplies && { covered: [] }),
        resolve: () => resolve(request),
        reject,
      };
      this.pending.set(handle, request);
      this.send(command, flags, handle, offset, length, extra.payload, extra.onSent);
    });
  }

  // proto.md "Request message": magic, flags, type, handle, offset, length, data.
  private send(
    command: number,
    flags: number,
    handle: number,
    offset: number,
    length: number,
    payload?: Buffer,
    onSent?: () => void,
  ): void {
    const header = Buffer.allocUnsafe(P.REQUEST_HEADER_SIZE);
    header.writeUInt32BE(P.REQUEST_MAGIC, 0);
    header.writeUInt16BE(flags, 4);
    header.writeUInt16BE(command, 6);
    header.writeUInt32BE(0, 8);
    header.writeUInt32BE(handle, 12);
    header.writeUInt32BE(Math.floor(offset / 0x100000000), 16);
    header.writeUInt32BE(offset >>> 0, 20);
    header.writeUInt32BE(length, 24);
    if (payload === undefined) {
      this.socket.write(header);
      return;
    }
    this.socket.cork();
    this.socket.write(header);
    // The callback runs once the kernel has the payload (or the socket failed: `done` says which).
    this.socket.write(payload, onSent === undefined ? undefined : () => onSent());
    this.socket.uncork();
  }

  private alignDown(value: number): number {
    const block = Math.max(1, this.info.minimumBlockSize);
    return value - (value % block);
  }
}
