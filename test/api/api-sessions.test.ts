// Console logins against a real `sendense-run api` (docs/api.md#tokens-and-roles): wrong secrets
// from one address (every client of a same-host proxy has 127.0.0.1) are slowed, never a lock-out
// of the right one; a token holds at most 20 live sessions and the hub 200, the oldest ended first.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addApiToken, startApiServer, type ApiServer } from '../support/api-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';

const ws = useRunWorkspace('sendense-api-sessions-', { per: 'file' });
let server: ApiServer;
let admin: string;
let audit: string;

beforeAll(async () => {
  const plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  admin = await addApiToken(ws.db, 'admin', 'admin');
  audit = await addApiToken(ws.db, 'auditor', 'audit');
  server = await startApiServer({ db: ws.db, plans: [plans] });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

async function login(secret: string): Promise<{ status: number; cookie: string }> {
  const answer = await server.request('POST', '/api/v1/login', { body: { token: secret } });
  return { status: answer.status, cookie: String(answer.headers['set-cookie'] ?? '').split(';')[0]! };
}

async function sessionStatus(cookie: string): Promise<number> {
  return (await server.request('GET', '/api/v1/session', { headers: { cookie } })).status;
}

it('the right secret logs in after any number of wrong ones from the same address; past five, wrong ones are 429', async () => {
  const statuses: number[] = [];
  // Each past the fifth is answered after a pause (about a second): twelve take a few seconds.
  for (let i = 0; i < 12; i++) statuses.push((await login(`sdr_wrong-${i}`)).status);
  expect(statuses).toEqual([...Array<number>(5).fill(401), ...Array<number>(7).fill(429)]);
  const right = await login(admin);
  expect(right.status).toBe(200);
  expect(await sessionStatus(right.cookie)).toBe(200);
  // Bearer requests were never limited.
  expect((await server.request('GET', '/api/v1/plans', { token: audit })).status).toBe(200);
}, 120_000);

it('a token holds at most 20 live sessions: logging in a 21st time ends its oldest', async () => {
  const cookies: string[] = [];
  for (let i = 0; i < 25; i++) {
    const made = await login(audit);
    expect(made.status).toBe(200);
    cookies.push(made.cookie);
  }
  const statuses = await Promise.all(cookies.map(sessionStatus));
  expect(statuses).toEqual([...Array<number>(5).fill(401), ...Array<number>(20).fill(200)]);
}, 120_000);

it('the hub holds at most 200 live sessions: past that, the least recently used end', async () => {
  // Eleven tokens with twenty sessions each: 220, the first token's twenty are the oldest.
  const secrets: string[] = [];
  for (let i = 0; i < 11; i++) {
    const added = await server.request('POST', '/api/v1/tokens', {
      token: admin,
      body: { name: `reader-${i}`, role: 'audit' },
    });
    expect(added.status, added.text).toBe(201);
    secrets.push(added.json<{ secret: string }>().secret);
  }
  const cookies: string[][] = [];
  for (const secret of secrets) {
    const mine: string[] = [];
    for (let i = 0; i < 20; i++) {
      const made = await login(secret);
      expect(made.status).toBe(200);
      mine.push(made.cookie);
    }
    cookies.push(mine);
  }
  const statuses = await Promise.all(cookies.map((mine) => Promise.all(mine.map(sessionStatus))));
  expect(statuses[0]).toEqual(Array<number>(20).fill(401));
  for (const mine of statuses.slice(1)) expect(mine).toEqual(Array<number>(20).fill(200));
}, 300_000);
