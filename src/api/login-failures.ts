// Failed console logins (docs/api.md#tokens-and-roles): slowed, never a lock-out. The secret is
// checked before this is asked, so the right one always logs in; a wrong one past a few is
// answered only after a pause, one at a time per client address, and one at a time hub-wide
// once the hub has seen many. Guessing a 256-bit secret is hopeless anyway: this keeps a flood
// of wrong ones cheap for the hub and slow for whoever sends it.

import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError } from './api-error.js';

const WINDOW_MS = 10 * 60_000;
// Failures per address within WINDOW_MS answered at once (a mistyped paste or two).
const FREE_PER_ADDRESS = 5;
// Failures hub-wide within WINDOW_MS before every further one, from anywhere, waits its turn.
const FREE_PER_HUB = 100;
// Between two slowed answers of one address (or of the hub, past its budget).
export const FAILURE_PAUSE_MS = 1000;
// No answer is held longer: a connection is not kept open for ever.
const MAX_HOLD_MS = 60_000;

interface Tally {
  since: number;
  count: number;
  // When the last slowed answer of this tally is (or was) given.
  nextAnswer: number;
}

export class LoginFailures {
  private readonly byAddress = new Map<string, Tally>();
  private hub: Tally = { since: 0, count: 0, nextAnswer: 0 };

  constructor(private readonly now: () => number = Date.now) {}

  /** Notes a wrong secret from this address; resolves, after its pause, to the error to answer. */
  async refuse(address: string): Promise<ApiError> {
    const now = this.now();
    this.forgetOld(now);
    const mine = this.tally(address, now);
    if (now - this.hub.since > WINDOW_MS) this.hub = { since: now, count: 0, nextAnswer: 0 };
    mine.count++;
    this.hub.count++;
    const slowAddress = mine.count > FREE_PER_ADDRESS;
    const slowHub = this.hub.count > FREE_PER_HUB;
    if (!slowAddress && !slowHub) return new ApiError('unauthorized', 'no such token, or it expired or was removed');
    let answerAt = now;
    if (slowAddress) answerAt = Math.max(answerAt, mine.nextAnswer + FAILURE_PAUSE_MS);
    if (slowHub) answerAt = Math.max(answerAt, this.hub.nextAnswer + FAILURE_PAUSE_MS);
    answerAt = Math.min(answerAt, now + MAX_HOLD_MS);
    if (slowAddress) mine.nextAnswer = answerAt;
    if (slowHub) this.hub.nextAnswer = answerAt;
    // Unref'd: a held answer does not keep a stopping server alive.
    if (answerAt > now) await sleep(answerAt - now, undefined, { ref: false });
    return new ApiError(
      'too-many-requests',
      `too many failed logins ${slowAddress ? `from ${address}` : 'on this hub'}: each further wrong secret is answered after a pause (the right one still logs in at once)`,
    );
  }

  private tally(address: string, now: number): Tally {
    const known = this.byAddress.get(address);
    if (known !== undefined && now - known.since <= WINDOW_MS) return known;
    const fresh = { since: now, count: 0, nextAnswer: 0 };
    this.byAddress.set(address, fresh);
    return fresh;
  }

  // Addresses whose window has passed are forgotten, at most once a minute (the map stays small).
  private lastSweep = 0;
  private forgetOld(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [address, tally] of this.byAddress)
      if (now - tally.since > WINDOW_MS && tally.nextAnswer <= now) this.byAddress.delete(address);
  }
}
