// Buffers what a socket delivers during the handshake, so it can await exact byte counts.

export class SocketReader {
  private chunks: Buffer[] = [];
  private head = 0; // bytes already consumed from chunks[0]
  private buffered = 0;
  private waiter:
    { readonly bytes: number; readonly resolve: () => void; readonly reject: (error: unknown) => void } | undefined;
  private failure: unknown;

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

  // Consume `bytes` bytes; a slice (no copy) when they sit in one chunk.
  take(bytes: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.head >= bytes) {
      const slice = first.subarray(this.head, this.head + bytes);
      this.consume(bytes);
      return slice;
    }
    const out = Buffer.allocUnsafe(bytes);
    this.copyOut(out, 0, bytes);
    this.consume(bytes);
    return out;
  }

  private copyOut(target: Buffer, targetOffset: number, bytes: number): void {
    let skip = this.head;
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
