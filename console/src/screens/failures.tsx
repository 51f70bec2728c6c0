// Failures of the last 7 days (docs/console.md#screens): each failed run with its error, and who
// acknowledged it and when; Acknowledge where the role allows (POST /api/v1/runs/ID/ack, as
// `sendense-run ack RUN`). The dashboard's card counts them per plan and links here.

import { useState } from 'preact/hooks';
import { ApiRefusal, call } from '../api.js';
import type { Acknowledgement, Status } from '../api-types.js';
import { time } from '../format.js';
import { Link } from '../parts/link.js';
import { Loading, Refusal, TableBox, useLoad } from '../parts/load.js';
import { useCan } from '../session.js';

export function Failures(props: { readonly plan: string }) {
  const loaded = useLoad(() => call<Status>('status'), []);
  const [error, setError] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const can = useCan();

  const acknowledge = async (id: string) => {
    setError(undefined);
    setNotice(undefined);
    try {
      const ack = await call<Acknowledgement>('ack', { params: { id } });
      setNotice(`run ${ack.runId} of plan ${ack.plan} acknowledged by ${ack.by}`);
    } catch (failure) {
      setError(failure instanceof ApiRefusal ? failure.message : String(failure));
    }
    loaded.reload();
  };

  return (
    <>
      <h1 tabIndex={-1}>Failures{props.plan ? ` of plan ${props.plan}` : ''}</h1>
      <p>
        Failed runs of the last 7 days. {props.plan && <Link href="/failures">Every plan's</Link>}{' '}
        <Link href="/">Dashboard</Link>
      </p>
      <Refusal text={error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <Loading loaded={loaded}>
        {(status) => {
          const failures = status.failures.filter((failure) => !props.plan || failure.plan === props.plan);
          if (failures.length === 0) return <p class="good">None</p>;
          return (
            <TableBox label="Failed runs" stack>
              <thead>
                <tr>
                  <th scope="col">Run</th>
                  <th scope="col">Plan</th>
                  <th scope="col">Started</th>
                  <th scope="col">Error</th>
                  <th scope="col">Acknowledged</th>
                </tr>
              </thead>
              <tbody>
                {failures.map((failure) => (
                  <tr key={failure.id} data-run={failure.id}>
                    <th scope="row" class="mono">
                      {failure.id}
                    </th>
                    <td data-label="Plan">{failure.plan}</td>
                    <td data-label="Started">{time(failure.startedAt)}</td>
                    <td data-label="Error" class="wrap error-text">
                      {failure.error ?? 'failed'}
                    </td>
                    <td data-label="Acknowledged">
                      {failure.acknowledgedBy !== null ? (
                        `by ${failure.acknowledgedBy} ${time(failure.acknowledgedAt)}`
                      ) : can('ack') ? (
                        <button type="button" class="small secondary" onClick={() => void acknowledge(failure.id)}>
                          Acknowledge<span class="sr-only"> run {failure.id}</span>
                        </button>
                      ) : (
                        <span class="bad">open</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </TableBox>
          );
        }}
      </Loading>
    </>
  );
}
