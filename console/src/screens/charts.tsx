// Charts (docs/console.md#screens): each repository's space over time and each plan's run durations
// and bytes, from GET /api/v1/trends (what the state already holds: the points there now, history).

import { call } from '../api.js';
import type { Trends } from '../api-types.js';
import { bytes, duration } from '../format.js';
import { Chart } from '../parts/chart.js';
import { Loading, useLoad } from '../parts/load.js';

const seconds = (iso: string) => Date.parse(iso) / 1000;

export function Charts() {
  const loaded = useLoad(() => call<Trends>('trends'), []);
  return (
    <>
      <h1 tabIndex={-1}>Charts</h1>
      <Loading loaded={loaded}>{(trends) => <Drawn trends={trends} />}</Loading>
    </>
  );
}

function Drawn({ trends }: { readonly trends: Trends }) {
  return (
    <>
      <section aria-labelledby="c-repositories">
        <h2 id="c-repositories">Repositories</h2>
        <p class="muted">The space the points there now take, added up by when each was taken.</p>
        {trends.repositories.length === 0 && <p class="muted">No point yet</p>}
        {trends.repositories.map((repository) => {
          const last = repository.use.at(-1);
          return (
            <div class="card chart-card" key={repository.repository}>
              <Chart
                title={repository.repository}
                summary={`${repository.use.length} points, ${bytes(last?.usedBytes ?? 0)} now`}
                times={repository.use.map((point) => seconds(point.at))}
                series={[
                  {
                    label: 'used',
                    values: repository.use.map((point) => point.usedBytes),
                    color: '#0a58ca',
                    side: 'left',
                    format: bytes,
                  },
                ]}
              />
            </div>
          );
        })}
      </section>
      <section aria-labelledby="c-plans">
        <h2 id="c-plans">Runs of each plan</h2>
        {trends.plans.length === 0 && <p class="muted">No finished run yet</p>}
        {trends.plans.map((plan) => {
          const longest = Math.max(0, ...plan.runs.map((run) => run.seconds));
          return (
            <div class="card chart-card" key={plan.plan}>
              <Chart
                title={plan.plan}
                summary={`${plan.runs.length} runs, the longest ${duration(longest)}`}
                times={plan.runs.map((run) => seconds(run.at))}
                series={[
                  {
                    label: 'duration',
                    values: plan.runs.map((run) => run.seconds),
                    color: '#0a58ca',
                    side: 'left',
                    format: (value) => (value < 60 ? `${value.toFixed(1)} s` : duration(value)),
                  },
                  {
                    label: 'bytes',
                    values: plan.runs.map((run) => run.bytes),
                    color: '#7d4e00',
                    side: 'right',
                    format: bytes,
                  },
                ]}
              />
            </div>
          );
        })}
      </section>
    </>
  );
}
