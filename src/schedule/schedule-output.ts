// What the scheduler prints: each run's events (plain lines prefixed with the plan name, or JSON
// lines carrying the plan) and its own notes (next run times, skips, reloads, stop).

import { Writable } from 'node:stream';
import { typedLines, type JsonOutput } from '../output/json-output.js';
import type { Output } from '../engine/output.js';
import { plainReporter } from '../engine/reporters.js';
import type { RunReporter } from '../engine/run-events.js';
import { maskDeep } from '../secrets/mask.js';

export interface SchedulerNote {
  /** e.g. scheduled, ignored, invalid, skipped, catch-up, clock-set-back, reloaded, stopping, stopped. */
  readonly event: string;
  readonly level: 'info' | 'warning' | 'error';
  readonly message: string;
  readonly plan?: string;
  readonly [fact: string]: string | number | boolean | null | undefined;
}

// The scheduler's own line under --json; its facts beyond these are the event's (e.g. `next`).
type SchedulerLine = { readonly type: 'scheduler'; readonly time: string } & Pick<
  SchedulerNote,
  'event' | 'level' | 'message' | 'plan'
>;

/** schedule's section of docs/json-events.md. */
export const SCHEDULE_JSON: JsonOutput = {
  intro: "Each run's events as above, each also with `plan`; and the scheduler's own notes, a `scheduler` each.",
  lines: typedLines<SchedulerLine>({
    scheduler: {
      when: 'a note of the scheduler',
      fields: {
        event:
          '`scheduled`, `ignored`, `invalid`, `skipped`, `catch-up`, `clock-set-back` (a time that already ran is not run again, with its `due`), `reloaded`, `stopping`, `stopped`, `reaped` (a run of a dead hub marked failed, with its `hub`), `queue-error` (shared schedule), …',
        level: '`info`, `warning`, `error`',
        message: '',
        plan: 'when about one plan',
        time: '',
      },
      note: "Also the facts of the event (e.g. the next run time, or the `fire` of a shared schedule's skipped fire).",
    },
  }),
};

export interface ScheduleOutput {
  reporterFor(plan: string): RunReporter;
  note(note: SchedulerNote): void;
}

export function createScheduleOutput(cli: Pick<Output, 'stdout' | 'stderr' | 'json' | 'quiet'>): ScheduleOutput {
  const output = unmaskedScheduleOutput(cli);
  return { reporterFor: (plan) => output.reporterFor(plan), note: (note) => output.note(maskDeep(note)) };
}

function unmaskedScheduleOutput(cli: Pick<Output, 'stdout' | 'stderr' | 'json' | 'quiet'>): ScheduleOutput {
  const time = () => new Date().toISOString();
  if (cli.json) {
    const write = (object: object) => cli.stdout.write(`${JSON.stringify({ ...object, time: time() })}\n`);
    return {
      reporterFor: (plan) => ({ emit: (event) => write({ plan, ...event }), close: async () => {} }),
      note: (note) => write({ type: 'scheduler', ...note }),
    };
  }
  return {
    reporterFor: (plan) =>
      plainReporter(
        { stdout: prefixedLines(cli.stdout, `[${plan}] `), stderr: prefixedLines(cli.stderr, `[${plan}] `) },
        cli.quiet,
      ),
    note(note) {
      if (note.level === 'info' && cli.quiet && note.event !== 'scheduled') return;
      const out = note.level === 'info' ? cli.stdout : cli.stderr;
      const prefix = note.level === 'info' ? '' : `${note.level}: `;
      out.write(`${time()} ${note.plan === undefined ? 'schedule' : `[${note.plan}]`} ${prefix}${note.message}\n`);
    },
  };
}

// A stream that writes each line to `out` with a timestamp and a prefix.
function prefixedLines(out: NodeJS.WritableStream, prefix: string): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      const lines = String(chunk).replace(/\n$/, '').split('\n');
      out.write(lines.map((line) => `${new Date().toISOString()} ${prefix}${line}\n`).join(''));
      callback();
    },
  });
}
