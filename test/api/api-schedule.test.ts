// `sendense-run api --schedule` (docs/api.md#serving-it): the served plans' schedules run beside
// the server, recorded as the scheduler records them; stopping the server stops its scheduler.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { stringify } from 'yaml';
import { addApiToken, startApiServer } from '../support/api-server.js';
import { descendantPids } from '../support/process-tree.js';
import { waitForProcessGone } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';

const ws = useRunWorkspace('sendense-api-schedule-');

it('runs the plans with a schedule at their times, and its scheduler stops with the server', async () => {
  const plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  mkdirSync(ws.repository);
  // A verify plan of an empty repository: it succeeds at once, every second.
  writeFileSync(
    path.join(plans, 'tick.yaml'),
    stringify({
      version: 1,
      kind: 'verify',
      name: 'tick',
      schedule: '* * * * * *',
      repository: { path: ws.repository },
      verify: { vm: 'web01' },
    }),
  );
  const audit = await addApiToken(ws.db, 'auditor', 'audit');
  const server = await startApiServer({ db: ws.db, plans: [plans], args: ['--schedule'] });
  try {
    let runs: { trigger: string; status: string }[] = [];
    for (let tries = 0; tries < 600 && !runs.some((run) => run.status === 'succeeded'); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      runs = (await server.request('GET', '/api/v1/history?plan=tick', { token: audit })).json<{ runs: typeof runs }>()
        .runs;
    }
    expect(runs.find((run) => run.status === 'succeeded')).toMatchObject({ trigger: 'schedule' });
    const children = descendantPids(server.pid);
    expect(children.length).toBeGreaterThan(0);
    expect(await server.stop()).toBe(0);
    for (const pid of children) expect(await waitForProcessGone(pid)).toBe(true);
  } finally {
    await server.kill();
  }
}, 120_000);
