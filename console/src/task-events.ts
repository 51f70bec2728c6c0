// A task's events (docs/json-events.md: the lines `--json` prints) folded into what the task view
// shows. A run's own events go through the one fold the terminal uses too (src/engine/run-fold.ts):
// the steps as the terminal lists them, each disk's progress with its speed and ETA, the notes and
// warnings. What else a task prints (a dry run's plan, a failover's lines, verify's disks, an
// error) is added here. Pure, so a reload that replays the stream shows the same.

import {
  EMPTY_RUN,
  foldRunEvent,
  isFoldEvent,
  type FoldedDisk,
  type RunFold,
  type StepState,
} from '../../src/engine/run-fold.js';

export type { StepState };

export interface StepView {
  readonly name: string;
  readonly state: StepState;
  /** "transfer: 1 disk, 1.0 MiB", as the terminal's line for the step. */
  readonly text: string;
}

export type DiskView = FoldedDisk;

export interface LogLine {
  readonly level: 'info' | 'warning' | 'error';
  readonly text: string;
}

export interface TaskView {
  /** The run's events folded as the terminal folds them. */
  readonly run: RunFold;
  readonly kind?: string;
  readonly runId?: string;
  readonly steps: readonly StepView[];
  readonly disks: readonly DiskView[];
  readonly log: readonly LogLine[];
  /** The run's last line: "succeeded in 0.9 s" or its error. */
  readonly end?: { readonly status: string; readonly text: string };
  /** A dry run's plan of steps (PLAN.yaml --dry-run --json). */
  readonly dryRun?: {
    readonly wouldFail: boolean;
    readonly steps: readonly { readonly step: string; readonly does: string; readonly fails?: boolean }[];
  };
}

export const EMPTY: TaskView = { run: EMPTY_RUN, steps: [], disks: [], log: [] };

type Event = Record<string, unknown> & { readonly type?: string };

export function foldEvent(view: TaskView, event: Event): TaskView {
  const at = typeof event.time === 'string' ? Date.parse(event.time) : Date.now();
  if (isFoldEvent(event)) {
    const run = foldRunEvent(view.run, event, at);
    const said = run.log.slice(view.run.log.length).map((line) => ({ level: line.level, text: line.text }));
    return {
      ...view,
      run,
      kind: run.kind,
      runId: run.runId,
      steps: run.steps.map((step) => ({ name: step.name, state: step.state, text: step.title })),
      disks: run.disks,
      log: said.length === 0 ? view.log : [...view.log, ...said],
      ...(event.type === 'run-end' ? { end: { status: event.status, text: endText(event) } } : {}),
    };
  }
  // serve's last line (its exports stopped by Cancel).
  if (event.type === 'stopped' && typeof event.backupId === 'string' && typeof event.vm === 'string')
    return {
      ...view,
      log: [
        ...view.log,
        { level: 'info', text: `stopped serving point ${event.backupId}: its exports ended, everything given back` },
      ],
    };
  switch (event.type) {
    case 'error':
      return { ...view, log: [...view.log, { level: 'error', text: String(event.message) }] };
    case 'failed-over':
    case 'test-running':
    case 'test-ended':
      return { ...view, log: [...view.log, ...failoverLines(event).map((text) => ({ level: 'info' as const, text }))] };
    case 'serving':
      return { ...view, log: [...view.log, ...servingLines(event).map((text) => ({ level: 'info' as const, text }))] };
    case undefined:
      if (Array.isArray(event.steps) && 'wouldFail' in event) {
        return {
          ...view,
          dryRun: {
            wouldFail: event.wouldFail === true,
            steps: event.steps as { step: string; does: string; fails?: boolean }[],
          },
        };
      }
      return { ...view, log: [...view.log, { level: 'info', text: JSON.stringify(event) }] };
    default:
      // Other commands' lines (verify's disks, forget's points, summaries): as they are.
      return {
        ...view,
        log: [
          ...view.log,
          { level: event.type === 'refused' || event.type === 'damaged' ? 'error' : 'info', text: lineText(event) },
        ],
      };
  }
}

// A served point's exports (`serve --json`, src/serve/serve-output.ts): one line per disk.
function servingLines(event: Event): string[] {
  const disks = Array.isArray(event.disks) ? (event.disks as { key?: unknown; url?: unknown }[]) : [];
  return [
    `serving VM ${String(event.vm)}, point ${String(event.backupId)}, read-only over NBD`,
    ...disks.map((disk) => `disk ${String(disk.key)}: ${String(disk.url)}`),
    'Cancel stops serving and gives everything back',
  ];
}

// A failover's lines as `failover` prints them without --json (src/failover/failover-output.ts).
function failoverLines(event: Event): string[] {
  const disks = Array.isArray(event.disks)
    ? (event.disks as { key?: unknown; overlay?: unknown; image?: unknown; layer?: unknown }[])
    : [];
  const from = `point ${String(event.pointId)}`;
  if (event.type === 'test-ended')
    return [
      `test ended (${event.why === 'shut-off' ? 'the guest shut itself off' : 'stopped'}): ${String(event.domain)} destroyed, its overlays removed`,
    ];
  if (event.type === 'test-running')
    return [
      `testing the failover of ${String(event.vm)}: domain ${String(event.domain)} runs on ${String(event.node)} from ${from}, with no network`,
      ...disks.map((disk) => `disk ${String(disk.key)}: writes to ${String(disk.overlay)}, over ${String(disk.layer)}`),
      'the replica, its syncs and the failover state are untouched; Cancel stops it and discards its changes',
    ];
  return [
    `failed over ${String(event.vm)}: domain ${String(event.domain)} started on ${String(event.node)} from ${from}`,
    ...disks.map((disk) => `disk ${String(disk.key)}: ${String(disk.image)}`),
    `the syncs of plan ${String(event.plan)} are stopped: a scheduled or manual run of it refuses`,
  ];
}

function lineText(event: Event): string {
  if (typeof event.message === 'string') return `${event.type}: ${event.message}`;
  const { type, time: _time, ...rest } = event;
  return `${String(type)}: ${JSON.stringify(rest)}`;
}

// "succeeded in 0.9 s, point P" or the error the run ended with.
function endText(event: Extract<RunFold['end'], object>): string {
  return `${event.status} in ${Number(event.seconds).toFixed(1)} s${event.backupId ? `, point ${event.backupId}` : ''}${event.error ? `: ${event.error}` : ''}`;
}

/** Before the run's first event: the plan's steps, each waiting (run-start then lists the same). */
export function withPlanSteps(view: TaskView, names: readonly string[]): TaskView {
  if (view.steps.length > 0 || view.dryRun !== undefined || view.end !== undefined) return view;
  return { ...view, steps: names.map((name) => ({ name, state: 'waiting' as const, text: name })) };
}

// What only someone debugging needs: Unix socket paths, nbd+unix URLs, checkpoint and bitmap names
// (sendense-CHAIN-POINT), a run's scratch folders (…/sendense-run-…). Domain names stay.
const DETAIL =
  /nbd\+unix:\/\/\/\S*|socket=\S+|\/\S+\.sock\b|sendense-\d{8}-\d{6}-[0-9a-f]+(?:-\d{8}-\d{6}-[0-9a-f]+)?|\S*\/sendense-run-\S*/g;

/** The text with its details cut to "…", and whether it had any. */
export function withoutDetails(text: string): { readonly short: string; readonly hadDetails: boolean } {
  const short = text.replace(DETAIL, '…');
  return { short, hadDetails: short !== text };
}
