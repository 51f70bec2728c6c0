// A run's events (docs/json-events.md) folded into what a person watching it sees: each step's
// state and line, what was said under the running step, each disk's progress with its speed and
// ETA, the notes, and the end. Pure, and the one fold under the terminal view
// (./listr-reporter.ts) and the console's task view (console/src/task-events.ts), so a reload that
// replays the stream shows what the terminal showed.

import { slotEventText, type QueueEvent } from './slot-text.js';

/** The facts of a run event (./run-events.ts) the fold reads: its own types, for the console's bundle. */
export type FoldEvent =
  | { readonly type: 'run-start'; readonly runId: string; readonly kind: string; readonly steps: readonly string[] }
  | { readonly type: 'step-start'; readonly step: string; readonly title: string }
  | { readonly type: 'step-done'; readonly step: string; readonly summary?: string }
  | { readonly type: 'step-skip'; readonly step: string; readonly reason: string }
  | { readonly type: 'step-fail'; readonly step: string; readonly interrupted?: true }
  | { readonly type: 'progress'; readonly disk: number; readonly bytesDone: number; readonly bytesToDo: number }
  | { readonly type: 'info' | 'warning'; readonly message: string; readonly step?: string }
  | QueueEvent
  | {
      readonly type: 'run-end';
      readonly runId: string;
      readonly status: string;
      readonly seconds: number;
      readonly backupId?: string;
      readonly bytes?: number | null;
      readonly error?: string;
    };

const RUN_EVENT_TYPES = new Set([
  'run-start',
  'step-start',
  'step-done',
  'step-skip',
  'step-fail',
  'progress',
  'info',
  'warning',
  'queued',
  'slots',
  'run-end',
]);

/** A parsed `--json` line is one of the run's events the fold takes. */
export function isFoldEvent(line: { readonly type?: unknown }): line is FoldEvent {
  return typeof line.type === 'string' && RUN_EVENT_TYPES.has(line.type);
}

export type StepState = 'waiting' | 'running' | 'done' | 'skipped' | 'failed';

export interface FoldedStep {
  readonly name: string;
  readonly state: StepState;
  /** "transfer: 1 disk, 1.0 MiB", the step's line. */
  readonly title: string;
  /** What was said while it ran (info and warning lines), oldest first. */
  readonly notes: readonly string[];
}

export interface FoldedDisk {
  readonly key: number;
  readonly bytesDone: number;
  readonly bytesToDo: number;
  readonly bytesPerSecond: number | null;
  readonly etaSeconds: number | null;
  /** The first sample of this disk, for the speed. */
  readonly firstAt: number;
  readonly firstDone: number;
}

export interface FoldedLine {
  readonly level: 'info' | 'warning';
  readonly text: string;
  /** The running step it was said under; absent when said outside any (hooks, the queue). */
  readonly step?: string;
}

export interface RunFold {
  readonly kind?: string;
  readonly runId?: string;
  /** The step started last. */
  readonly current?: string;
  readonly steps: readonly FoldedStep[];
  /** Each disk's progress, as its last event left it (the copy's bars stay once it is done). */
  readonly disks: readonly FoldedDisk[];
  readonly log: readonly FoldedLine[];
  readonly end?: Extract<FoldEvent, { type: 'run-end' }>;
}

export const EMPTY_RUN: RunFold = Object.freeze({ steps: [], disks: [], log: [] });

/** The fold after one more event; `at` is when it came (ms). */
export function foldRunEvent(fold: RunFold, event: FoldEvent, at: number): RunFold {
  switch (event.type) {
    case 'run-start':
      return {
        ...fold,
        kind: event.kind,
        runId: event.runId,
        steps: event.steps.map((name) => ({ name, state: 'waiting', title: name, notes: [] })),
      };
    case 'step-start': {
      const started = setStep(fold, event.step, 'running', `${event.step}: ${event.title}`);
      return { ...started, current: event.step };
    }
    case 'step-done':
      return setStep(fold, event.step, 'done', event.summary ? `${event.step}: ${event.summary}` : event.step);
    case 'step-skip':
      return setStep(fold, event.step, 'skipped', `${event.step}: ${event.reason}`);
    case 'step-fail': {
      const failed = setStep(
        fold,
        event.step,
        'failed',
        `${event.step}: ${event.interrupted ? 'interrupted' : 'failed'}`,
      );
      // The run goes straight to cleanup: the steps between are not reached.
      return notReached(failed, (step) => step.state === 'waiting' && step.name !== 'cleanup');
    }
    case 'progress':
      return { ...fold, disks: progress(fold.disks, event.disk, event.bytesDone, event.bytesToDo, at) };
    case 'info':
    case 'warning':
      return said(fold, event.type, event.type === 'warning' ? `warning: ${event.message}` : event.message, event.step);
    case 'queued':
    case 'slots':
      return { ...fold, log: [...fold.log, { level: 'info', text: slotEventText(event) }] };
    case 'run-end':
      return {
        ...notReached(fold, (step) => step.state === 'waiting' || step.state === 'running'),
        end: event,
      };
  }
}

/** The step the fold knows by that name. */
export function foldedStep(fold: RunFold, name: string | undefined): FoldedStep | undefined {
  return name === undefined ? undefined : fold.steps.find((step) => step.name === name);
}

function setStep(fold: RunFold, name: string, state: StepState, title: string): RunFold {
  const known = fold.steps.some((step) => step.name === name);
  const steps = known
    ? fold.steps.map((step) => (step.name === name ? { ...step, state, title } : step))
    : [...fold.steps, { name, state, title, notes: [] }];
  return { ...fold, steps };
}

function notReached(fold: RunFold, which: (step: FoldedStep) => boolean): RunFold {
  return {
    ...fold,
    steps: fold.steps.map((step) =>
      which(step) ? { ...step, state: 'skipped', title: `${step.name}: not reached` } : step,
    ),
  };
}

// A line said under the step it names (or the current one) while that step runs; hooks' lines
// and lines said between steps belong to none.
function said(fold: RunFold, level: FoldedLine['level'], text: string, named: string | undefined): RunFold {
  const step = named === 'hooks' ? undefined : foldedStep(fold, named ?? fold.current);
  const under = step?.state === 'running' ? step.name : undefined;
  const steps =
    under === undefined
      ? fold.steps
      : fold.steps.map((each) => (each.name === under ? { ...each, notes: [...each.notes, text] } : each));
  return { ...fold, steps, log: [...fold.log, { level, text, ...(under ? { step: under } : {}) }] };
}

function progress(
  disks: readonly FoldedDisk[],
  key: number,
  bytesDone: number,
  bytesToDo: number,
  at: number,
): FoldedDisk[] {
  const before = disks.find((disk) => disk.key === key);
  const firstAt = before?.firstAt ?? at;
  const firstDone = before?.firstDone ?? bytesDone;
  const seconds = (at - firstAt) / 1000;
  const bytesPerSecond = seconds > 0 ? (bytesDone - firstDone) / seconds : null;
  const etaSeconds =
    bytesPerSecond && bytesPerSecond > 0 ? (bytesToDo - bytesDone) / bytesPerSecond : bytesDone >= bytesToDo ? 0 : null;
  const next: FoldedDisk = { key, bytesDone, bytesToDo, bytesPerSecond, etaSeconds, firstAt, firstDone };
  return before
    ? disks.map((disk) => (disk.key === key ? next : disk))
    : [...disks, next].sort((a, b) => a.key - b.key);
}
