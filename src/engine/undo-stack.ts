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
  /**
   * Kept when the run is taken again at once (the VM's lock, docs/vmware.md#a-change-id-vsphere-rejects):
   * the next attempt takes it over and gives it back, so there is no moment without it.
   */
  readonly keptWhenTakenAgain?: boolean;
}

export interface UndoOutcome {
  readonly what: string;
  readonly error?: Error;
}

export class UndoStack {
  #entries: UndoEntry[] = [];
  #committed = false;
  #takenAgain = false;

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

  // The run is taken again after this cleanup: what is kept for that (keptWhenTakenAgain) is not given back.
  takenAgain(): void {
    this.#takenAgain = true;
  }

  // Runs what applies, newest first; one failing entry never stops the others.
  async unwind(onEntry?: (entry: UndoEntry) => void): Promise<UndoOutcome[]> {
    const outcomes: UndoOutcome[] = [];
    const entries = this.#entries.reverse();
    this.#entries = [];
    for (const entry of entries) {
      const applies = entry.when === 'always' || (entry.when === 'success') === this.#committed;
      if (!applies || entry.held?.() === false || (this.#takenAgain && entry.keptWhenTakenAgain === true)) continue;
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
