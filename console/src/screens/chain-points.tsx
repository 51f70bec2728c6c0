// One chain of a VM's points (docs/console.md#screens): each point's facts and the actions the
// role allows (browse files, restore, serve, verify, protect/unprotect, clear a suspect point, forget).

import type { Chain, Point } from '../api-types.js';
import { age, bytes, time } from '../format.js';
import { Link } from '../parts/link.js';
import { TableBox } from '../parts/load.js';
import { useCan } from '../session.js';
import { Outcome } from './dashboard.js';
import type { PointActions } from './point-actions.js';

export function ChainPoints({ chain, actions }: { readonly chain: Chain; readonly actions: PointActions }) {
  return (
    <section aria-label={`Chain ${chain.id}`}>
      <h2>
        Chain {chain.id} <span class="muted small-text">in {chain.repository}</span>
      </h2>
      <TableBox label={`Points of chain ${chain.id}`} stack>
        <thead>
          <tr>
            {['Point', 'Kind', 'Status', 'Taken', 'Size', 'Verified', 'Protected', 'Encrypted', 'Actions'].map(
              (title) => (
                <th key={title} scope="col">
                  {title}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>
          {chain.points.map((point) => (
            <PointRow key={point.id} point={point} actions={actions} />
          ))}
        </tbody>
      </TableBox>
    </section>
  );
}

function PointRow({ point, actions }: { readonly point: Point; readonly actions: PointActions }) {
  const [day, clock] = time(point.startedAt).split(' ');
  return (
    <tr data-point={point.id}>
      <th scope="row" class="mono">
        {point.id}
      </th>
      <td data-label="Kind">{point.type}</td>
      <td data-label="Status">
        <Outcome status={point.status} />
        {point.damage && <span class="bad"> {point.damage}</span>}
        <Suspect point={point} />
      </td>
      <td data-label="Taken">
        {day}
        <br />
        {clock}
      </td>
      <td data-label="Size">
        {bytes(point.bytes)} copied,
        <br />
        {bytes(point.onDiskBytes)} on disk
      </td>
      <td data-label="Verified">{point.verifiedAt ? age(point.verifiedAt) : 'never'}</td>
      <td data-label="Protected">
        {point.protected ? 'yes' : 'no'}
        {point.heldBy && <span class="small-text muted held-by">kept for suspect {point.heldBy}</span>}
      </td>
      <td data-label="Encrypted">{point.encrypted === undefined ? '-' : point.encrypted ? 'yes' : 'no'}</td>
      <td data-label="Actions" class="actions">
        <PointButtons point={point} actions={actions} />
      </td>
    </tr>
  );
}

function PointButtons({ point, actions }: { readonly point: Point; readonly actions: PointActions }) {
  const can = useCan();
  const complete = point.status === 'complete';
  const where = encodeURIComponent(point.id);
  return (
    <>
      {can('files') && complete && (
        <Link class="button small" href={`/points/${where}/files`}>
          Files<span class="sr-only"> of point {point.id}</span>
        </Link>
      )}
      {can('restore') && complete && (
        <Link class="button small" href={`/points/${where}/restore`}>
          Restore<span class="sr-only"> point {point.id}</span>
        </Link>
      )}
      {can('serve') && complete && (
        <button type="button" class="small secondary" onClick={() => void actions.serve(point)}>
          Serve<span class="sr-only"> point {point.id}</span>
        </button>
      )}
      {can('verify') && (
        <button type="button" class="small secondary" onClick={() => void actions.verify(point)}>
          Verify<span class="sr-only"> point {point.id}</span>
        </button>
      )}
      {can(point.protected ? 'unprotect' : 'protect') && (
        <button type="button" class="small secondary" onClick={() => void actions.protect(point)}>
          {point.protected ? 'Unprotect' : 'Protect'}
          <span class="sr-only"> point {point.id}</span>
        </button>
      )}
      {can('clear') && point.suspect !== null && point.suspectClearedBy === null && (
        <button type="button" class="small danger" onClick={() => void actions.clear(point)}>
          Clear<span class="sr-only"> suspect point {point.id}</span>
        </button>
      )}
      {can('forget') && !point.protected && (
        <button type="button" class="small danger" onClick={() => void actions.forget(point)}>
          Forget<span class="sr-only"> point {point.id}</span>
        </button>
      )}
    </>
  );
}

// A suspect point (docs/anomaly.md): its badge and reasons; cleared, who cleared it.
function Suspect({ point }: { readonly point: Point }) {
  if (point.suspect === null) return null;
  const cleared = point.suspectClearedBy !== null;
  return (
    <>
      <span class={cleared ? 'badge skip' : 'badge suspect'}>{cleared ? 'suspect, cleared' : 'suspect'}</span>
      <span class="suspect-reason">
        {point.suspect}
        {cleared && ` (cleared by ${point.suspectClearedBy} ${time(point.suspectClearedAt)})`}
      </span>
    </>
  );
}
