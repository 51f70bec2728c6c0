// A token bucket: callers take bytes before moving them and wait their turn at `rate` bytes per
// second, first come first served, so a transfer's disks and connections share one limit. The rate
// can change at any time; bytes already taken stay counted. Bursts stay within a tenth of a
// second of data (plus the one request that overdraws it), so over a minute the rate holds to
// well under 1%.

// The most the bucket saves up while idle, in seconds of data.
const BURST_SECONDS = 0.1;

interface Waiter {
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (reason: unknown) => void;
  readonly signal?: AbortSignal;
  readonly onAbort: () => void;
}

export class TokenBucket {
  private limit: number | undefined;
  /** Bytes that may go now; below zero: owed by the last request granted. */
  private tokens = 0;
  private at: number;
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  /** rate: bytes per second; undefined = not limited. */
  constructor(
    rate?: number,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.limit = checkedRate(rate);
    this.at = clock();
  }

  get rate(): number | undefined {
    return this.limit;
  }

  // Bytes already granted keep their cost: what is owed is paid at the new rate.
  setRate(rate: number | undefined): void {
    const next = checkedRate(rate);
    this.refill();
    if (this.limit === undefined || next === undefined) this.tokens = 0;
    this.limit = next;
    this.tokens = Math.min(this.tokens, this.capacity());
    this.pump();
  }

  // Resolves when `bytes` may be moved; rejects with the signal's reason if it is aborted first.
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.limit === undefined && this.waiters.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          reject(signal!.reason);
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
      this.pump();
    });
  }

  private capacity(): number {
    return this.limit === undefined ? 0 : this.limit * BURST_SECONDS;
  }

  private refill(): void {
    const now = this.clock();
    if (this.limit !== undefined)
      this.tokens = Math.min(this.capacity(), this.tokens + ((now - this.at) / 1000) * this.limit);
    this.at = now;
  }

  // Grants waiters in order while nothing is owed; then sleeps until the debt is paid.
  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.refill();
    while (this.waiters.length > 0 && (this.limit === undefined || this.tokens >= 0)) {
      const waiter = this.waiters.shift()!;
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      if (this.limit !== undefined) this.tokens -= waiter.bytes;
      waiter.resolve();
    }
    if (this.waiters.length === 0 || this.limit === undefined) return;
    this.timer = setTimeout(() => this.pump(), Math.max(1, Math.ceil((-this.tokens / this.limit) * 1000)));
  }
}

function checkedRate(rate: number | undefined): number | undefined {
  if (rate !== undefined && !(Number.isFinite(rate) && rate > 0))
    throw new RangeError(`a rate must be a positive number of bytes per second (got ${rate})`);
  return rate;
}
