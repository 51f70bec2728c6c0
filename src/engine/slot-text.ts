// The human line for a run's place in the hub's queue for disk slots (docs/how-it-works.md#scale):
// the terminal, plain lines and the console say it in the same words. Only types of its own: the
// console's bundle takes it as it is.

import { plural } from '../format/plural.js';

/** The facts of a `queued` or `slots` event (./run-events.ts) the line says. */
export type QueueEvent =
  | { readonly type: 'queued'; readonly ahead: number; readonly held: number; readonly limit: number }
  | {
      readonly type: 'slots';
      readonly granted: number;
      readonly wanted: number;
      readonly disks: number;
      readonly held: number;
      readonly limit: number;
      readonly queuedSeconds: number;
    };

export function slotEventText(event: QueueEvent): string {
  if (event.type === 'queued') {
    const line = event.ahead === 0 ? 'first in line' : `${event.ahead} run(s) ahead`;
    return `queued: ${line}, ${event.held}/${event.limit} disk slots of the hub in use`;
  }
  const waited = event.queuedSeconds >= 0.5 ? ` after ${event.queuedSeconds.toFixed(1)} s in the queue` : '';
  // Slots are shares of the hub's memory: one disk at full speed may want several (hub/disk-budget.ts).
  const why = event.wanted > event.disks ? ', the memory of a disk at full speed' : '';
  return `disk slots: ${event.granted} of ${event.wanted} wanted for ${plural(event.disks, 'disk')}${why}${waited} (hub ${event.held}/${event.limit})`;
}
