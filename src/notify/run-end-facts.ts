// What a notification tells (docs/notifications.md): the facts of the --json run-end event, plus
// which plan, kind, VM and hub they are about.

import type { RunEvent } from '../engine/run-events.js';

export type RunEnd = Omit<Extract<RunEvent, { type: 'run-end' }>, 'type'>;

export interface RunEndFacts extends RunEnd {
  readonly plan: string;
  readonly kind: string;
  readonly vm: string;
  readonly hub: string;
}
