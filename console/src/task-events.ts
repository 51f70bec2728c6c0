// A task's events (docs/json-events.md: the lines `--json` prints) folded into what the task view
// shows: the steps as the terminal lists them, each disk's progress with its speed and ETA, the
// notes and warnings, and the end. Pure, so a reload that replays the stream shows the same.

export type StepState = 'waiting' | 'running' | 'done' | 'skipped' | 'failed';

export interface StepView {
  readonly name: string;
  readonly state: StepState;
  /** "transfer: 1 disk, 1.0 MiB", as the terminal's line for the step. */
  readonly text: string;
}

export interface DiskView {
  readonly key: number;
  readonly bytesDone: number;
  readonly bytesToDo: number;
  readonly bytesPerSecond: number | null;
  readonly etaSeconds: number | null;
  /** The first sample, for the speed. */
  readonly firstAt: number;
  readonly firstDone: number;
}

export interface LogLine {
  readonly level: 'info' | 'warning' | 'error';
  readonly text: string;
}

export interface TaskView {
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

export const EMPTY: TaskView = { steps: [], disks: [], log: [] };

type Event = Record<string, unknown> & { readonly type?: string };

function setStep(view: TaskView, name: string, state: StepState, text: string): TaskView {
  const known = view.steps.some((step) => step.name === name);
  const steps = known
    ? view.steps.map((step) => (step.name === name ? { name, state, text } : step))
    : [...view.steps, { name, state, text }];
  return { ...view, steps };
}

function notReached(view: TaskView, keepCleanup: boolean): TaskView {
  return {
    ...view,
    steps: view.steps.map((step) =>
      step.state === 'waiting' || (step.state === 'running' && !keepCleanup)
        ? keepCleanup && step.name === 'cleanup'
          ? step
          : { ...step, state: 'skipped', text: `${step.name}: not reached` }
        : step,
    ),
  };
}

export function foldEvent(view: TaskView, event: Event): TaskView {
  const at = typeof event.time === 'string' ? Date.parse(event.time) : Date.now();
  switch (event.type) {
    case 'run-start':
      return {
        ...view,
        kind: String(event.kind),
        runId: String(event.runId),
        steps: (event.steps as string[]).map((name) => ({ name, state: 'waiting', text: name })),
      };
    case 'step-start':
      return setStep(view, String(event.step), 'running', `${String(event.step)}: ${String(event.title)}`);
    case 'step-done':
      return setStep(
        view,
        String(event.step),
        'done',
        event.summary ? `${String(event.step)}: ${String(event.summary)}` : String(event.step),
      );
    case 'step-skip':
      return setStep(view, String(event.step), 'skipped', `${String(event.step)}: ${String(event.reason)}`);
    case 'step-fail': {
      const failed = setStep(
        view,
        String(event.step),
        'failed',
        `${String(event.step)}: ${event.interrupted ? 'interrupted' : 'failed'}`,
      );
      return notReached(failed, true);
    }
    case 'progress':
      return {
        ...view,
        disks: progress(view.disks, Number(event.disk), Number(event.bytesDone), Number(event.bytesToDo), at),
      };
    case 'info':
      return { ...view, log: [...view.log, { level: 'info', text: String(event.message) }] };
    case 'warning':
      return { ...view, log: [...view.log, { level: 'warning', text: `warning: ${String(event.message)}` }] };
    case 'error':
      return { ...view, log: [...view.log, { level: 'error', text: String(event.message) }] };
    case 'queued':
      return {
        ...view,
        log: [
          ...view.log,
          {
            level: 'info',
            text: `waiting for the hub's disk slots: ${String(event.ahead)} run(s) ahead, ${String(event.held)}/${String(event.limit)} slots in use`,
          },
        ],
      };
    case 'slots':
      return {
        ...view,
        log: [
          ...view.log,
          {
            level: 'info',
            text: `disk slots: ${String(event.granted)} of ${String(event.wanted)} wanted (hub ${String(event.held)}/${String(event.limit)})`,
          },
        ],
      };
    case 'run-end': {
      const status = String(event.status);
      const text = `${status} in ${Number(event.seconds).toFixed(1)} s${event.backupId ? `, point ${String(event.backupId)}` : ''}${event.error ? `: ${String(event.error)}` : ''}`;
      return { ...notReached(view, false), end: { status, text } };
    }
    case 'failed-over':
    case 'test-running':
    case 'test-ended':
      return { ...view, log: [...view.log, ...failoverLines(event).map((text) => ({ level: 'info' as const, text }))] };
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

function progress(
  disks: readonly DiskView[],
  key: number,
  bytesDone: number,
  bytesToDo: number,
  at: number,
): DiskView[] {
  const before = disks.find((disk) => disk.key === key);
  const firstAt = before?.firstAt ?? at;
  const firstDone = before?.firstDone ?? bytesDone;
  const seconds = (at - firstAt) / 1000;
  const bytesPerSecond = seconds > 0 ? (bytesDone - firstDone) / seconds : null;
  const etaSeconds =
    bytesPerSecond && bytesPerSecond > 0 ? (bytesToDo - bytesDone) / bytesPerSecond : bytesDone >= bytesToDo ? 0 : null;
  const next: DiskView = { key, bytesDone, bytesToDo, bytesPerSecond, etaSeconds, firstAt, firstDone };
  return before
    ? disks.map((disk) => (disk.key === key ? next : disk))
    : [...disks, next].sort((a, b) => a.key - b.key);
}
