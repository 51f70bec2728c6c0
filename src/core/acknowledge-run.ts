// Acknowledge a failed run (docs/operations.md#acknowledging-failures): an operator has looked at
// it. History keeps it failed and says who acknowledged it and when; `status` and the dashboard no
// longer count it as open. `ack RUN` and POST /api/v1/runs/ID/ack.

import { Type, type Static } from '@sinclair/typebox';
import { SendenseError } from '../errors.js';
import type { Store } from '../store/index.js';

export const Acknowledgement = Type.Object(
  {
    type: Type.Literal('acknowledged'),
    runId: Type.String(),
    plan: Type.String(),
    by: Type.String({ description: 'who acknowledged it (the first acknowledgement stands)' }),
    at: Type.String(),
    changed: Type.Boolean({ description: 'false when it was acknowledged already' }),
  },
  { additionalProperties: false, description: 'the acknowledgement as `ack --json` prints it (docs/json-events.md)' },
);
export type Acknowledgement = Static<typeof Acknowledgement>;

// Exit code 2 (the API's not-found, bad-request) when there is no such run or it did not fail.
export async function acknowledgeRun(store: Store, id: string, by: string): Promise<Acknowledgement> {
  const run = await store.getRun(id);
  if (run === undefined) throw new SendenseError(`no such run ${id}`, { exitCode: 2 });
  if (run.status !== 'failed')
    throw new SendenseError(`run ${id} of plan ${run.plan} is ${run.status}, not failed: nothing to acknowledge`, {
      exitCode: 2,
    });
  await store.acknowledgeRun(id, by);
  const now = (await store.getRun(id))!;
  return {
    type: 'acknowledged',
    runId: id,
    plan: run.plan,
    by: now.acknowledgedBy!,
    at: now.acknowledgedAt!,
    changed: run.acknowledgedBy === null,
  };
}
