// One replicate plan's card: its VM and replica node, its lag (and failover, once done), the
// failover buttons the session's role allows, and its points on the replica node.

import type { Replica } from '../api-types.js';
import { bytes, duration, time } from '../format.js';
import { TableBox } from '../parts/load.js';
import { useCan } from '../session.js';

export function ReplicaCard(props: {
  readonly replica: Replica;
  readonly failover: (replica: Replica, test: boolean) => Promise<void>;
}) {
  const { replica, failover } = props;
  const can = useCan();
  return (
    <section class="card" aria-labelledby={`r-${replica.plan}`}>
      <h2 id={`r-${replica.plan}`}>
        {replica.plan}{' '}
        <span class="muted small-text">
          VM {replica.vm ?? '-'} on {replica.replicaNode ?? '-'}
        </span>
      </h2>
      <p>
        Lag: <strong>{duration(replica.lagSeconds)}</strong>
        {replica.failover && (
          <span class="bad">
            {' '}
            — failed over at {time(replica.failover.at)} to point {replica.failover.pointId}: {replica.failover.domain}{' '}
            runs on {replica.failover.node}
          </span>
        )}
      </p>
      <p class="actions">
        {can('failoverTest') && (
          <button type="button" onClick={() => void failover(replica, true)}>
            Failover test<span class="sr-only"> of {replica.plan}</span>
          </button>
        )}
        {can('failover') && !replica.failover && (
          <button type="button" class="danger" onClick={() => void failover(replica, false)}>
            Fail over<span class="sr-only"> {replica.plan}</span>
          </button>
        )}
      </p>
      <ReplicaPoints replica={replica} />
    </section>
  );
}

function ReplicaPoints({ replica }: { readonly replica: Replica }) {
  return (
    <TableBox label={`Points of ${replica.plan}`}>
      <thead>
        <tr>
          <th scope="col">Point</th>
          <th scope="col">Taken</th>
          <th scope="col">Age</th>
          <th scope="col">Kind</th>
          <th scope="col">Written</th>
        </tr>
      </thead>
      <tbody>
        {replica.points.map((point) => (
          <tr key={point.id}>
            <th scope="row" class="mono">
              {point.id}
            </th>
            <td>{time(point.takenAt)}</td>
            <td>{duration(point.ageSeconds)}</td>
            <td>{point.type}</td>
            <td>{bytes(point.bytes)}</td>
          </tr>
        ))}
      </tbody>
    </TableBox>
  );
}
