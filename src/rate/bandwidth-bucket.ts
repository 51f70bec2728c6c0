// One token bucket that holds a data path on the hub itself (a copy's bytes) to a run's bandwidth
// (docs/bandwidth.md): at the rate in force when it starts, changed at each window boundary while
// it runs, so the bytes already on their way keep going at the new rate.

import type { Bandwidth, RateNow } from './bandwidth.js';
import { TokenBucket } from './token-bucket.js';

export interface BandwidthBucket {
  /** Resolves when `bytes` may go; rejects with the signal's reason if it is aborted first. */
  take(bytes: number, signal?: AbortSignal): Promise<void>;
  /** Stops hearing the bandwidth's changes (the run's data path is done). */
  stop(): void;
}

// `onChange` hears each new rate once the bucket holds to it.
export function bandwidthBucket(bandwidth: Bandwidth, onChange: (rate: RateNow) => void = () => {}): BandwidthBucket {
  const bucket = new TokenBucket(bandwidth.now().bytesPerSecond);
  const stop = bandwidth.onChange((rate) => {
    bucket.setRate(rate.bytesPerSecond);
    onChange(rate);
  });
  return Object.freeze({ take: (bytes: number, signal?: AbortSignal) => bucket.take(bytes, signal), stop });
}
