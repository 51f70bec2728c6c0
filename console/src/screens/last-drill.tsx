// A VM's last drill (docs/drills.md, docs/console.md#screens): its outcome, each check with its
// status and time, the recovery time, and the guest's screenshot when the role may see guest data
// (the restore role: the screenshot route). Nothing when the VM was never drilled.

import { call } from '../api.js';
import { urlOf } from '../api-paths.js';
import type { Drill } from '../api-types.js';
import { age, duration, time } from '../format.js';
import { Loading, TableBox, useLoad } from '../parts/load.js';
import { useCan } from '../session.js';

const TONE: Readonly<Record<string, string>> = { passed: 'ok', failed: 'fail', skipped: 'skip' };

function Status(props: { readonly status: string }) {
  return <span class={`badge ${TONE[props.status] ?? 'fail'}`}>{props.status}</span>;
}

export function LastDrill(props: { readonly vm: string }) {
  const can = useCan();
  const loaded = useLoad(
    () => call<{ drills: Drill[] }>('drills', { params: { vm: props.vm }, query: { limit: '1' } }),
    [props.vm],
  );
  if (!can('drills')) return null;
  return (
    <Loading loaded={loaded}>
      {({ drills }) => {
        const drill = drills[0];
        if (drill === undefined) return null;
        return (
          <section class="card" aria-labelledby="v-drill">
            <h2 id="v-drill">Last drill</h2>
            <p>
              <Status status={drill.outcome} /> point <span class="mono">{drill.backupId}</span>, plan {drill.plan},
              ended {time(drill.endedAt)} ({age(drill.endedAt)}); recovery time{' '}
              <strong class="recovery">{duration(drill.recoverySeconds)}</strong>
            </p>
            <TableBox label="Checks of the last drill">
              <thead>
                <tr>
                  <th scope="col">Check</th>
                  <th scope="col">Status</th>
                  <th scope="col">Time</th>
                  <th scope="col">Found</th>
                </tr>
              </thead>
              <tbody>
                {drill.checks.map((check, index) => (
                  <tr key={`${check.check}-${index}`} data-check={check.check}>
                    <th scope="row">{check.check}</th>
                    <td data-label="Status">
                      <Status status={check.status} />
                    </td>
                    <td data-label="Time">{duration(check.seconds)}</td>
                    <td data-label="Found" class="small-text">
                      {check.detail}
                    </td>
                  </tr>
                ))}
              </tbody>
            </TableBox>
            {drill.screenshot && can('drillScreenshot') && (
              <img
                class="drill-screenshot"
                src={urlOf('drillScreenshot', { run: drill.runId })}
                alt={`The guest's screen in drill ${drill.runId}`}
              />
            )}
          </section>
        );
      }}
    </Loading>
  );
}
