import type { RunEvent } from './run-events.js';

// The end line's last words: what a successful run made (a replicate plan's sync makes a point).
export function runEndTail(kind: string | undefined, event: Extract<RunEvent, { type: 'run-end' }>): string {
  if (!event.backupId || event.status !== 'succeeded') return '';
  return `, ${kind === 'replicate' ? 'replica point' : 'backup'} ${event.backupId}`;
}
