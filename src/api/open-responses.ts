// Answers still being sent (a download, an archive, an event stream), looked at once a second:
// one whose token has been removed or has expired since it started is cut off
// (docs/api.md#tokens-and-roles; a `token remove` in another process is seen through the store),
// and so is one whose client has taken no byte of what waits for it for STALL_MS
// (docs/api.md#files-of-a-point): a client that stops reading holds nothing for long. A token has
// at most DOWNLOADS_PER_TOKEN files downloads at once.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './api-error.js';
import type { Authenticator, Caller } from './auth.js';

const CHECK_MS = 1000;
export const STALL_MS = 60_000;
export const DOWNLOADS_PER_TOKEN = 2;

interface OpenResponse {
  readonly caller: Caller;
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  /** The socket's bytes written when last seen, and when they last moved (or nothing waited). */
  written: number;
  movedAt: number;
}

export class OpenResponses {
  private readonly open = new Set<OpenResponse>();
  private readonly downloads = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private readonly auth: Authenticator,
    private readonly stallMs = STALL_MS,
  ) {}

  track(caller: Caller, request: IncomingMessage, response: ServerResponse): void {
    const entry: OpenResponse = { caller, request, response, written: 0, movedAt: Date.now() };
    this.open.add(entry);
    response.once('close', () => this.open.delete(entry));
    this.timer ??= setInterval(() => void this.check(), CHECK_MS).unref();
  }

  /** This answer counted as one of its token's downloads until it closes; 429 past the limit. */
  startDownload(caller: Caller, response: ServerResponse): void {
    const running = this.downloads.get(caller.token) ?? 0;
    if (running >= DOWNLOADS_PER_TOKEN)
      throw new ApiError(
        'too-many-requests',
        `token ${caller.token} has ${running} downloads running, the most at once: try again when one ends`,
      );
    this.downloads.set(caller.token, running + 1);
    response.once('close', () => {
      const left = (this.downloads.get(caller.token) ?? 1) - 1;
      if (left > 0) this.downloads.set(caller.token, left);
      else this.downloads.delete(caller.token);
    });
  }

  private async check(): Promise<void> {
    if (this.open.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    if (this.checking) return;
    this.checking = true;
    try {
      this.endStalled();
      await this.endRevoked();
    } finally {
      this.checking = false;
    }
  }

  // A socket with bytes waiting that has sent none of them for stallMs: its client stopped reading.
  private endStalled(): void {
    const now = Date.now();
    for (const entry of this.open) {
      const socket = entry.request.socket;
      const written = socket.bytesWritten;
      if (written !== entry.written || socket.writableLength === 0) {
        entry.written = written;
        entry.movedAt = now;
      } else if (now - entry.movedAt >= this.stallMs) this.end(entry);
    }
  }

  // Each token with an answer open asked of the store again, as a new request would be.
  private async endRevoked(): Promise<void> {
    const byToken = new Map<string, OpenResponse[]>();
    for (const entry of this.open) byToken.set(entry.caller.token, [...(byToken.get(entry.caller.token) ?? []), entry]);
    for (const entries of byToken.values()) {
      const { request, caller } = entries[0]!;
      try {
        await this.auth.caller({ method: 'GET', headers: request.headers, address: caller.address });
      } catch (error) {
        if (error instanceof ApiError && error.code === 'unauthorized') for (const entry of entries) this.end(entry);
      }
    }
  }

  // Cut off: the client sees the transfer end before its length (or without its last chunk).
  private end(entry: OpenResponse): void {
    this.open.delete(entry);
    entry.response.destroy();
    entry.request.socket.destroy();
  }
}
