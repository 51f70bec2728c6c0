// The console's charts (docs/console.md#screens), read from what the state already holds: each
// repository's space over time as its points now there add up, by when each was taken (a point
// retention merged away no longer counts), and each plan's runs — when, how long, how many bytes —
// as history records them. GET /api/v1/trends answers it.

import { Type, type Static } from '@sinclair/typebox';
import type { ListedPoint } from './list-points.js';
import type { HistoryRun } from './run-history.js';
import { Nullable } from './schema-types.js';

export const Trends = Type.Object(
  {
    repositories: Type.Array(
      Type.Object(
        {
          repository: Type.String(),
          use: Type.Array(
            Type.Object(
              {
                at: Type.String({ description: 'when a point was taken (ISO-8601 UTC)' }),
                usedBytes: Type.Integer({ description: 'the space of the points now there taken until then' }),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    plans: Type.Array(
      Type.Object(
        {
          plan: Type.String(),
          runs: Type.Array(
            Type.Object(
              {
                at: Type.String({ description: 'when the run started' }),
                seconds: Type.Number(),
                bytes: Nullable(Type.Integer()),
                status: Type.String(),
              },
              { additionalProperties: false },
            ),
            { description: 'finished runs, oldest first' },
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type Trends = Static<typeof Trends>;

export function trendsOf(points: readonly ListedPoint[], runs: readonly HistoryRun[]): Trends {
  const repositories = [...new Set(points.map((point) => point.repository))].sort().map((repository) => {
    let used = 0;
    const use = points
      .filter((point) => point.repository === repository && point.onDiskBytes !== null)
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt))
      .map((point) => ({ at: point.startedAt, usedBytes: (used += point.onDiskBytes!) }));
    return { repository, use };
  });
  const finished = runs.filter((run) => run.seconds !== null && run.status !== 'running');
  const plans = [...new Set(finished.map((run) => run.plan))].sort().map((plan) => ({
    plan,
    runs: finished
      .filter((run) => run.plan === plan)
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt))
      .map((run) => ({ at: run.startedAt, seconds: run.seconds!, bytes: run.bytes, status: run.status })),
  }));
  return { repositories, plans };
}
