// What the scheduler prints: each run's events (plain lines prefixed with the plan name, or JSON
// lines carrying the plan) and its own notes (next run times, skips, reloads, stop).

import { Writable } from 'node:stream';
import type { Output } from '../engine/output.js';
import { plainReporter } from '../engine/reporters.js';
import type { RunReporter } from '../engine/run-events.js';
import { maskDeep } from '../secrets/mask.js';

export interface SchedulerNote {
  /** e.g. scheduled, ignored, invalid, skipped, catch-up, reloaded, stopping, stopped. */
  readonly event: string;
  readonly level: 'info' | 'warning' | 'error';
  readonly message: string;
  readonly plan?: string;
  readonly [fact: string]: string | number | boolean | null | undefined;
}

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
