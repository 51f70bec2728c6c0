// One plan in detail, opened from the plans table: its file, its findings, its next and last runs.

import { call } from '../api.js';
import type { PlanJson } from '../api-types.js';
import { time } from '../format.js';
import { Loading, useLoad } from '../parts/load.js';
import { Outcome } from '../parts/outcome.js';

export function PlanDetail(props: { readonly name: string }) {
  const loaded = useLoad(() => call<PlanJson>('plan', { params: { name: props.name } }), [props.name]);
  return (
    <section class="card" aria-labelledby="plan-detail">
      <h2 id="plan-detail">Plan {props.name}</h2>
      <Loading loaded={loaded}>
        {(plan) => (
          <>
            <p class="path">{plan.file}</p>
            {plan.findings.length > 0 && (
              <ul>
                {plan.findings.map((finding) => (
                  <li key={finding} class="bad">
                    {finding}
                  </li>
                ))}
              </ul>
            )}
            <h3>Next runs</h3>
            {plan.nextRuns && plan.nextRuns.length > 0 ? (
              <ul class="plain">
                {plan.nextRuns.map((at) => (
                  <li key={at}>{time(at)}</li>
                ))}
              </ul>
            ) : (
              <p class="muted">No schedule</p>
            )}
            <h3>Last runs</h3>
            {plan.lastRuns && plan.lastRuns.length > 0 ? (
              <ul class="plain">
                {plan.lastRuns.map((run) => (
                  <li key={run.id}>
                    <Outcome status={run.status} /> {time(run.startedAt)} {run.error ?? ''}
                  </li>
                ))}
              </ul>
            ) : (
              <p class="muted">Never run</p>
            )}
          </>
        )}
      </Loading>
    </section>
  );
}
