// What a run tells the outside world, as data: renderers turn these into listr2 output on a
// terminal, plain lines elsewhere, or JSON lines for tools (--json; docs/json-events.md).

import type { DiskFacts, Facts } from './step-facts.js';

export type RunEvent =
  | {
      readonly type: 'run-start';
      readonly runId: string;
      readonly plan: string;
      readonly kind: string;
      readonly steps: readonly string[];
    }
  | { readonly type: 'step-start'; readonly step: string; readonly title: string }
  | { readonly type: 'step-done'; readonly step: string; readonly summary?: string; readonly facts?: Facts }
  | { readonly type: 'step-skip'; readonly step: string; readonly reason: string }
  | { readonly type: 'step-fail'; readonly step: string; readonly error: string; readonly interrupted?: true }
  | { readonly type: 'progress'; readonly disk: number; readonly bytesDone: number; readonly bytesToDo: number }
  | { readonly type: 'info'; readonly message: string; readonly step?: string }
  /** Waiting for hub disk slots (docs/how-it-works.md#scale): runs ahead in line, slots held of the limit. */
  | {
      readonly type: 'queued';
      readonly runId: string;
      readonly ahead: number;
      readonly held: number;
      readonly limit: number;
      readonly wanted: number;
      readonly queuedAt: string;
    }
  /** Slots taken: this run transfers up to `granted` disks at once. */
  | {
      readonly type: 'slots';
      readonly runId: string;
      readonly granted: number;
      readonly wanted: number;
      /** Disks the run copies: a disk at full speed may want more than one slot of memory. */
      readonly disks: number;
      readonly held: number;
      readonly limit: number;
      readonly queuedSeconds: number;
    }
  | { readonly type: 'warning'; readonly message: string; readonly step?: string }
  | {
      readonly type: 'run-end';
      readonly runId: string;
      /** skipped: its VM was busy with another plan's run and the plan says busy: skip; refused: busy: fail, or still busy past busy.wait (error says which). */
      readonly status: 'succeeded' | 'failed' | 'interrupted' | 'skipped' | 'refused';
      readonly seconds: number;
      readonly backupId?: string;
      /** Backup runs that got as far as resolve-chain: full or incremental. */
      readonly taken?: 'full' | 'incremental';
      /** Per disk: bytes copied (null when not known), and the change_id for backups. */
      readonly disks?: readonly DiskFacts[];
      /** Bytes copied, all disks together (null: no disk's count is known). */
      readonly bytes?: number | null;
      /** Why the backup the run made is suspect (docs/anomaly.md); absent when it is not. */
      readonly suspect?: string;
      readonly error?: string;
    };

/** The one object a command prints under --json when it stops on a user error (src/cli/main.ts). */
export interface ErrorEvent {
  readonly type: 'error';
  readonly message: string;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly step?: string;
  readonly disk?: number;
  readonly exitCode: number;
}

export interface RunReporter {
  emit(event: RunEvent): void;
  /** Wait until everything is on screen (listr2 finishes its render loop). */
  close(): Promise<void>;
  /** A word to the person at the terminal now (Ctrl+C received); absent: the caller prints it. */
  notice?(text: string): void;
}
