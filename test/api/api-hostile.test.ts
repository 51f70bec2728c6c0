// Hostile input to the API (docs/api.md#errors): malformed and huge JSON, fields no route takes,
// NUL bytes and huge paths, unknown routes. Each is one JSON error with its status, never a stack
// trace; nothing is run or changed, and the server goes on answering.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addApiToken, startApiServer, type ApiAnswer, type ApiServer } from '../support/api-server.js';
import { sendenseRun, writePlan } from '../support/sendense-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';

const ws = useRunWorkspace('sendense-api-hostile-', { per: 'file' });
let server: ApiServer;
let admin: string;

beforeAll(async () => {
  const plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  writePlan(plans, {
    name: 'web01-nightly',
    vm: 'web01',
    disks: [{ key: 1, path: path.join(ws.dir, 'web01.qcow2') }],
    repository: ws.repository,
    ports: [1, 2],
  });
  admin = await addApiToken(ws.db, 'admin', 'admin');
  server = await startApiServer({ db: ws.db, plans: [plans] });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

function refused(answer: ApiAnswer, status: number, error: string): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expect(answer.json()).toMatchObject({ error });
  expect(answer.text).not.toMatch(/\bat .*\.(js|ts):\d+/);
}

it('malformed JSON is 400, a body over 64 KiB is 413, a field no route takes is 400 naming it', async () => {
  refused(
    await server.request('POST', '/api/v1/verify', {
      token: admin,
      raw: '{"vm": ',
      headers: { 'content-type': 'application/json' },
    }),
    400,
    'bad-request',
  );
  refused(
    await server.request('POST', '/api/v1/verify', {
      token: admin,
      raw: `{"vm": "${'a'.repeat(100_000)}"}`,
      headers: { 'content-type': 'application/json' },
    }),
    413,
    'payload-too-large',
  );
  const unknown = await server.request('POST', '/api/v1/verify', { token: admin, body: { vm: 'web01', rm: '-rf /' } });
  refused(unknown, 400, 'bad-request');
  const wrongType = await server.request('POST', '/api/v1/tokens', { token: admin, body: { name: 'x', role: 'root' } });
  refused(wrongType, 400, 'bad-request');
  expect(wrongType.json<{ field?: string }>().field).toBe('role');
  refused(
    await server.request('POST', '/api/v1/tokens', { token: admin, body: { name: '../../etc/passwd', role: 'admin' } }),
    400,
    'bad-request',
  );
  refused(
    await server.request('POST', '/api/v1/verify', {
      token: admin,
      raw: '[1,2,3]',
      headers: { 'content-type': 'application/json' },
    }),
    400,
    'bad-request',
  );
});

it('NUL bytes, traversal and huge names in paths are refused or not found, never a stack', async () => {
  refused(await server.request('GET', '/api/v1/backups/%00', { token: admin }), 404, 'not-found');
  refused(await server.request('GET', '/api/v1/plans/..%2f..%2fetc%2fpasswd', { token: admin }), 404, 'not-found');
  refused(await server.request('POST', '/api/v1/plans/..%2f..%2fetc%2fpasswd/run', { token: admin }), 404, 'not-found');
  const huge = await server.request('GET', `/api/v1/backups/${'a'.repeat(5000)}`, { token: admin });
  expect([400, 404, 414]).toContain(huge.status);
  refused(await server.request('GET', '/api/v1/no/such/route', { token: admin }), 404, 'not-found');
  refused(await server.request('GET', `/api/v1/history?limit=${'9'.repeat(40)}`, { token: admin }), 400, 'bad-request');
});

it('after all that, the server answers and nothing ran', async () => {
  expect((await server.request('GET', '/api/v1/plans', { token: admin })).status).toBe(200);
  const tasks = (await server.request('GET', '/api/v1/tasks', { token: admin })).json<{ tasks: unknown[] }>();
  expect(tasks.tasks).toEqual([]);
  const history = await sendenseRun(['--db', ws.db, '--json', 'history']);
  expect(history.stdout.trim()).toBe('');
  expect(server.output()).not.toContain('internal error');
});

it('a token lifetime past the year 9999 is 400 naming expires, and no token is made', async () => {
  const answer = await server.request('POST', '/api/v1/tokens', {
    token: admin,
    body: { name: 'forever', role: 'audit', expires: '999999y' },
  });
  refused(answer, 400, 'bad-request');
  expect(answer.json()).toMatchObject({ field: 'expires', message: expect.stringContaining('999999y') });
  const tokens = (await server.request('GET', '/api/v1/tokens', { token: admin })).json<{
    tokens: { name: string }[];
  }>();
  expect(tokens.tokens.map((token) => token.name)).not.toContain('forever');
});
