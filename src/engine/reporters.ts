// The three views of a run: JSON lines (--json), plain lines (not a terminal), listr2 (a terminal).

import type { Output } from './output.js';
import { slotEventText } from './slot-text.js';
import { ProgressFacts } from './progress-facts.js';
import type { RunEvent, RunReporter } from './run-events.js';
import { runEndLine } from './run-end-text.js';

// listr2 is loaded only for a terminal: --json and plain runs start without it.
export async function createReporter(cli: Output): Promise<RunReporter> {
  if (cli.json) return jsonReporter(cli.stdout);
  if (cli.stdout.isTTY && !cli.quiet && process.env.CI === undefined)
    return (await import('./listr-reporter.js')).createListrReporter(cli);
  return plainReporter(cli, cli.quiet);
}

export function jsonReporter(out: NodeJS.WritableStream): RunReporter {
  return {
    emit: (event) => out.write(`${JSON.stringify({ ...event, time: new Date().toISOString() })}\n`),
    close: async () => {},
  };
}

// Plain lines; progress at most every 10% per disk (and in total) so logs stay readable.
export function plainReporter(cli: Pick<Output, 'stdout' | 'stderr'>, quiet = false): RunReporter {
  const lastDecile = new Map<number | 'total', number>();
  const progress = new ProgressFacts();
  // True when the percentage of `key` reached a new tenth since it was last printed.
  const newDecile = (key: number | 'total', percent: number) => {
    const decile = Math.floor(percent / 10);
    if ((lastDecile.get(key) ?? -1) >= decile) return false;
    lastDecile.set(key, decile);
    return true;
  };
  const line = (text: string) => cli.stdout.write(`${text}\n`);
  let kind: string | undefined;
  return {
    emit(event: RunEvent) {
      switch (event.type) {
        case 'run-start':
          kind = event.kind;
          if (!quiet) line(`run ${event.runId}: ${event.kind} plan ${event.plan}`);
          break;
        case 'step-start':
          progress.reset();
          lastDecile.clear();
          if (!quiet) line(`[${event.step}] ${event.title}`);
          break;
        case 'step-done':
          if (!quiet && event.summary) line(`[${event.step}] ${event.summary}`);
          break;
        case 'step-skip':
          if (!quiet) line(`[${event.step}] skipped: ${event.reason}`);
          break;
        case 'step-fail':
          // The error itself is printed once, by run-end (or by the warning of an after-step).
          cli.stderr.write(`[${event.step}] failed\n`);
          break;
        case 'progress': {
          if (quiet) break;
          progress.update(event);
          const several = progress.diskKeys.length > 1;
          if (newDecile(event.disk, progress.percent(event.disk)))
            line(`  ${progress.diskLine(event.disk)}${several ? '' : `, ${progress.pace()}`}`);
          if (several && newDecile('total', progress.percent())) line(`  ${progress.totalLine()}`);
          break;
        }
        case 'info':
          if (!quiet) line(`  ${event.message}`);
          break;
        case 'queued':
        case 'slots':
          if (!quiet) line(`  ${slotEventText(event)}`);
          break;
        case 'warning':
          cli.stderr.write(`warning: ${event.message}\n`);
          break;
        case 'run-end': {
          const text = runEndLine(kind, event);
          if (event.status === 'succeeded') line(text);
          else cli.stderr.write(`${text}: ${event.error ?? ''}\n`);
          break;
        }
      }
    },
    close: async () => {},
  };
}
