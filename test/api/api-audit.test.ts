// The audit record of a real `sendense-run api` (docs/api.md#the-audit-record), read back with
// `sendense-run audit`: a request refused for its role names its token and what it asked for, so
// `audit --token NAME` shows a token's refused attempts; a flood of requests without a valid token
// is folded into one entry per address a minute, so real entries stay in the default view.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ApiAuditEntry } from '../../src/store/api-records.js';
import { addApiToken, startApiServer, type ApiServer } from '../support/api-server.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';

const ws = useRunWorkspace('sendense-api-audit-', { per: 'file' });
let server: ApiServer;
let admin: string;
let auditor: string;
let operator: string;

beforeAll(async () => {
  const plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  admin = await addApiToken(ws.db, 'admin', 'admin');
  auditor = await addApiToken(ws.db, 'auditor', 'audit');
  operator = await addApiToken(ws.db, 'operator', 'operator');
  server = await startApiServer({ db: ws.db, plans: [plans] });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

async function auditRecord(args: readonly string[] = []): Promise<ApiAuditEntry[]> {
  const listed = await sendenseRun(['--db', ws.db, 'audit', '--json', ...args]);
  expect(listed.exitCode, listed.stderr).toBe(0);
  return listed.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ApiAuditEntry);
}

it('a request refused for its role is recorded under its token, with what it asked for: `audit --token` shows it', async () => {
  const guestRead = await server.request(
    'GET',
    `/api/v1/backups/pt-20261127/files/download?path=${encodeURIComponent('p1:/etc/shadow')}&disk=2000`,
    { token: auditor },
  );
  expect(guestRead.status, guestRead.text).toBe(403);
  const failover = await server.request('POST', '/api/v1/plans/web01-nightly/failover', {
    token: operator,
    body: {},
  });
  expect(failover.status, failover.text).toBe(403);

  expect(await auditRecord(['--token', 'auditor'])).toMatchObject([
    {
      token: 'auditor',
      address: '127.0.0.1',
      action: 'files-download',
      target: 'point pt-20261127, disk 2000, path p1:/etc/shadow',
      status: 403,
    },
  ]);
  expect(await auditRecord(['--token', 'operator'])).toMatchObject([
    { token: 'operator', action: 'failover', target: 'plan web01-nightly', status: 403 },
  ]);
});

it('a flood of requests without a valid token is one entry per address a minute, counting them: real entries stay in view', async () => {
  const real = await server.request('POST', '/api/v1/backups/no-such-point/protect', { token: admin });
  expect(real.status, real.text).toBe(404);
  const flood = 60;
  for (let i = 0; i < flood; i++) {
    const answer = await server.request('POST', '/api/v1/plans/web01-nightly/run', {
      ...(i % 2 === 0 ? { token: `sdr_wrong-${i}` } : {}),
    });
    expect(answer.status).toBe(401);
  }
  // `audit` shows the newest 50 by default.
  const view = await auditRecord();
  expect(view.find((entry) => entry.token === 'admin' && entry.action === 'protect')).toMatchObject({
    target: null,
    status: 404,
  });
  const anonymous = view.filter((entry) => entry.token === null);
  // One a minute: sixty requests take far less than five minutes, even on a loaded machine.
  expect(anonymous.length).toBeGreaterThanOrEqual(1);
  expect(anonymous.length).toBeLessThanOrEqual(5);
  const counted = anonymous.map((entry) => 1 + Number(/and (\d+) more refused/.exec(entry.outcome)?.[1] ?? 0));
  expect(counted.reduce((sum, count) => sum + count, 0)).toBe(flood);
  for (const entry of anonymous)
    expect(entry).toMatchObject({ address: '127.0.0.1', action: 'run', target: 'plan web01-nightly', status: 401 });
}, 120_000);
