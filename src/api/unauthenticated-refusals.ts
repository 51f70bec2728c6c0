// Requests refused for want of a valid token (401) in the audit record (docs/api.md#the-audit-record):
// one entry per client address per minute, its outcome counting the others, so a flood of them
// cannot push real entries out of view. Past MAX_ADDRESSES addresses in a minute, the rest share
// one entry.

import type { ApiAuditEntry } from '../store/api-records.js';

type Entry = Omit<ApiAuditEntry, 'id' | 'at'>;

export interface AuditWriter {
  /** The new entry's id; undefined when it could not be written. */
  add(entry: Entry): Promise<string | undefined>;
  setOutcome(id: string, outcome: string): Promise<void>;
}

const MINUTE_MS = 60_000;
const MAX_ADDRESSES = 50;
const OTHER_ADDRESSES = '';

interface Tally {
  readonly since: number;
  readonly outcome: string;
  readonly id: Promise<string | undefined>;
  more: number;
}

export class UnauthenticatedRefusals {
  private readonly tallies = new Map<string, Tally>();

  constructor(
    private readonly writer: AuditWriter,
    private readonly now: () => number = Date.now,
  ) {}

  async record(entry: Entry): Promise<void> {
    const now = this.now();
    for (const [key, tally] of this.tallies) if (now - tally.since >= MINUTE_MS) this.tallies.delete(key);
    const address = entry.address ?? OTHER_ADDRESSES;
    const key = this.tallies.has(address) || this.tallies.size < MAX_ADDRESSES ? address : OTHER_ADDRESSES;
    const tally = this.tallies.get(key);
    if (tally === undefined) {
      const outcome =
        key === OTHER_ADDRESSES && entry.address !== null
          ? `${entry.outcome} (first of several addresses)`
          : entry.outcome;
      const id = this.writer.add({ ...entry, outcome });
      this.tallies.set(key, { since: now, outcome, id, more: 0 });
      await id;
      return;
    }
    tally.more++;
    const id = await tally.id;
    if (id === undefined) return;
    const from = key === OTHER_ADDRESSES ? 'from other addresses' : 'from this address';
    await this.writer.setOutcome(
      id,
      `${tally.outcome} (and ${tally.more} more refused without a valid token ${from} within the minute, the last at ${new Date(now).toISOString()})`,
    );
  }
}
