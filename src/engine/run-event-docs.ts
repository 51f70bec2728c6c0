// What each event of a run's --json means, field by field: docs/json-events.md's event table is
// made from this (scripts/gen-docs.js), and the type checker holds it to the events themselves,
// so an event or field added to ./run-events.ts cannot go undocumented.

import type { ErrorEvent, RunEvent } from './run-events.js';

export interface EventDoc<E> {
  /** When it is printed. */
  readonly when: string;
  /** Each field but `type` (and `time`, on every event), in the order the docs list them. */
  readonly fields: { readonly [K in Exclude<keyof E, 'type'>]-?: string };
  /** Said after the fields. */
  readonly note?: string;
}

type EventDocs = { readonly [T in RunEvent['type']]: EventDoc<Extract<RunEvent, { type: T }>> } & {
  readonly error: EventDoc<ErrorEvent>;
};

export const RUN_EVENT_DOCS: EventDocs = {
  'run-start': {
    when: 'the run is recorded',
    fields: {
      runId: '',
      plan: '',
      kind: "the plan's: backup, incremental, restore",
      steps: 'the step names in order: [how-it-works.md](how-it-works.md#the-data-path)',
    },
  },
  queued: {
    when: 'the run waits for the hub\'s disk slots (README "Hub limits"); again when its place changes',
    fields: {
      runId: '',
      ahead: 'runs before it in line',
      held: 'slots in use on the hub',
      limit: '`maxParallelDisks`',
      wanted: '',
      queuedAt: 'its place: the fire time',
    },
  },
  slots: {
    when: 'the run took its disk slots (before any step; always once for runs that copy disks under a hub config)',
    fields: {
      runId: '',
      granted: "slots taken: shares of the hub's `memory`; it copies at most that many disks at once",
      wanted: 'one per disk, and as many as one disk at full speed needs',
      disks: 'the disks it copies',
      held: 'slots in use on the hub with these',
      limit: '',
      queuedSeconds: '',
    },
    note: 'The human line: `disk slots: 2 of 2 wanted for 1 disk, the memory of a disk at full speed (hub 2/16)`',
  },
  'step-start': {
    when: 'a step begins',
    fields: {
      step: '',
      title: 'what it is about to do, one line',
    },
  },
  'step-done': {
    when: 'a step finished',
    fields: {
      step: '',
      summary: 'one line for people',
      facts: 'what it did, as data: see below; absent when the step has none',
    },
  },
  'step-skip': {
    when: 'a step had nothing to do',
    fields: {
      step: '',
      reason: 'e.g. `the node is this host`, `not reached`',
    },
  },
  'step-fail': {
    when: 'a step failed; the run stops there (cleanup still runs)',
    fields: {
      step: '',
      error: "one line, the same as the run's error",
      interrupted: '`true` when it was stopped by a signal: SIGINT, SIGTERM or SIGHUP',
    },
  },
  progress: {
    when: "during `transfer` (and a recover run's `move-storage` while the domain runs, a copy's `send-points` for each file it sends), per disk",
    fields: {
      disk: 'disk key',
      bytesDone: '',
      bytesToDo: '',
    },
  },
  info: {
    when: 'a note: what cleanup gives back, hook output (`step: "hooks"`, lines `  after| …`), the rate a node transfer holds to (`step: "transfer"`, `node transfer (pid 48213): limited to 20 MiB/s (window mon-fri 08:00-18:00)`, at its start and at each window boundary: [bandwidth.md](bandwidth.md); a copy\'s `send-points`: `sending to the copy: limited to …`)',
    fields: {
      message: '',
      step: 'optional',
    },
  },
  warning: {
    when: 'something the operator should know that did not fail the run (a full taken instead of an incremental, a hook that failed after a success, something cleanup could not give back, a notification that could not be sent: docs/notifications.md)',
    fields: {
      message: '',
      step: 'optional',
    },
  },
  'run-end': {
    when: 'the run is over and recorded',
    fields: {
      runId: '',
      status:
        "`succeeded`, `failed`, `interrupted`, or `skipped`: its VM was busy with another plan's run and the plan says `busy: skip`, `error` says which run",
      seconds: '',
      backupId: "when a backup record was made, the restored backup, or a replicate run's new point",
      taken: 'backups and syncs: `full` or `incremental`',
      disks:
        '`[{ key, bytes, changeId }]`: bytes copied, null when not known; `changeId` for backups, null when the source has no change tracking',
      bytes:
        "all disks; null when no disk's count is known; a restore counts the data of the chain it copied, by either copy path; a copy run: the bytes it sent",
      suspect:
        'a backup marked suspect in this run: its reasons in numbers ([ransomware signals](anomaly.md#what-a-suspect-point-does)); absent otherwise',
      error: 'failed or interrupted runs, one line',
    },
  },
  error: {
    when: 'the command stopped on a user error before or instead of a run (invalid plan, usage)',
    fields: {
      message: '',
      file: '',
      line: '',
      column: '',
      step: '',
      disk: 'those known',
      exitCode: '2 invalid plan or usage, 1 run failure',
    },
  },
};
