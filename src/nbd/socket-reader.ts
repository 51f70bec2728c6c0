// Buffers what a socket delivers so the handshake can await exact byte counts and the reply
// parser can take whole messages without copying more than once.

export class SocketReader {
  private chunks: Buffer[] = [];
  private head = 0; // bytes already consumed from chunks[0]
  private buffered = 0;
  private waiter: { readonly bytes: number; readonly resolve: () => void; readonly reject: (error: unknown) => void } | undefined;
  private failure: unknown;
  /** Called after new data arrived (the transmission phase parser). */
  onData: (() => void) | undefined;

  get length(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.waiter && this.buffered >= this.waiter.bytes) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      resolve();
    }
    this.onData?.();
  }

  fail(error: unknown): void {
    this.failure ??= error;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }

  // Handshake phase: wait for exactly `bytes` bytes.
  async read(bytes: number): Promise<Buffer> {
    if (this.buffered < bytes) {
      if (this.failure !== undefined) throw this.failure;
      await new Promise<void>((resolve, reject) => {
        this.waiter = { bytes, resolve, reject };
      });
    }
    return this.take(bytes);
  }

  // A copy of the next `bytes` bytes, without consuming them (caller checked length).
  peek(bytes: number): Buffer {
    const out = Buffer.allocUnsafe(bytes);
    this.copyOut(out, 0, bytes, 0);
    return out;
  }

  // Consume `bytes` bytes; a slice (no copy) when they sit in one chunk.
  take(bytes: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.head >= bytes) {
      const slice = first.subarray(this.head, this.head + bytes);
      this.consume(bytes);
      return slice;
    }
    const out = Buffer.allocUnsafe(bytes);
    this.copyOut(out, 0, bytes, 0);
    this.consume(bytes);
    return out;
  }

  // Consume `bytes` bytes straight into `target` at `targetOffset` (READ payloads).
  takeInto(target: Buffer, targetOffset: number, bytes: number): void {
    this.copyOut(target, targetOffset, bytes, 0);
    this.consume(bytes);
  }

  skip(bytes: number): void {
    this.consume(bytes);
  }

  private copyOut(target: Buffer, targetOffset: number, bytes: number, ahead: number): void {
    let skip = this.head + ahead;
    let written = 0;
    for (const chunk of this.chunks) {
      if (written === bytes) break;
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      const n = Math.min(chunk.length - skip, bytes - written);
      chunk.copy(target, targetOffset + written, skip, skip + n);
      written += n;
      skip = 0;
    }
    if (written !== bytes) throw new Error(`SocketReader: wanted ${bytes} bytes, had ${written}`);
  }

  private consume(bytes: number): void {
    this.buffered -= bytes;
    let left = bytes;
    while (left > 0) {
      const first = this.chunks[0]!;
      const available = first.length - this.head;
      if (left < available) {
        this.head += left;
        return;
      }
      left -= available;
      this.chunks.shift();
      this.head = 0;
    }
  }
}
