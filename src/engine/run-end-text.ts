// The run's last line for people (docs/json-events.md has the same facts as `run-end`): its
// status and time, then for a successful run the bytes it moved with their rate, and the point it
// made or read, as its kind calls it (src/kinds: a replicate plan's sync makes a replica point).

import { formatBytes } from '../format/bytes.js';
import { kindNamed } from '../kinds/index.js';
import type { RunEvent } from './run-events.js';

// "run R succeeded in 12.3 s: 58.0 MiB at 4.7 MiB/s, backup B"
export function runEndLine(kind: string | undefined, event: Extract<RunEvent, { type: 'run-end' }>): string {
  const head = `run ${event.runId} ${event.status} in ${event.seconds.toFixed(1)} s`;
  if (event.status !== 'succeeded') return head;
  const moved =
    event.bytes === undefined || event.bytes === null
      ? ''
      : `: ${formatBytes(event.bytes)}${event.seconds > 0 && event.bytes > 0 ? ` at ${formatBytes(event.bytes / event.seconds)}/s` : ''}`;
  const made = event.backupId ? `, ${kindNamed(kind)?.pointWord ?? 'backup'} ${event.backupId}` : '';
  return `${head}${moved}${made}`;
}
