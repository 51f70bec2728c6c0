// Undo is data: each step registers how to give back what it took, the moment it takes it, and
// cleanup is one loop over this stack (last taken, first given back).

export type UndoWhen =
  /** Always given back: processes, tunnels, port leases. */
  | 'always'
  /** Only if the run fails before its backup is recorded complete: new files, new bitmaps. */
  | 'failure'
  /** Only once the backup is recorded complete: superseded bitmaps. */
  | 'success';

export interface UndoEntry {
  /** What is given back, for the log: "stop qemu-nbd (pid 1234) for disk 2000". */
  readonly what: string;
  readonly when: UndoWhen;
  readonly step: string;
  readonly run: () => Promise<void>;
  /** False once the resource went on to someone who gives it back (an early transfer its job took): then it is passed over. */
  readonly held?: () => boolean;
}

export interface UndoOutcome {
  readonly what: string;
  readonly error?: Error;
}

export class UndoStack {
  #entries: UndoEntry[] = [];
  #committed = false;

  push(entry: UndoEntry): void {
    this.#entries.push(entry);
  }

  // The backup is recorded complete: failure-only undo must never touch it any more.
  commit(): void {
    this.#committed = true;
  }

  get committed(): boolean {
    return this.#committed;
  }

  // Runs what applies, newest first; one failing entry never stops the others.
  async unwind(onEntry?: (entry: UndoEntry) => void): Promise<UndoOutcome[]> {
    const outcomes: UndoOutcome[] = [];
    const entries = this.#entries.reverse();
    this.#entries = [];
    for (const entry of entries) {
      const applies = entry.when === 'always' || (entry.when === 'success') === this.#committed;
      if (!applies || entry.held?.() === false) continue;
      onEntry?.(entry);
      try {
        await entry.run();
        outcomes.push({ what: entry.what });
      } catch (error) {
        outcomes.push({ what: entry.what, error: error instanceof Error ? error : new Error(String(error)) });
      }
    }
    return outcomes;
  }
}
