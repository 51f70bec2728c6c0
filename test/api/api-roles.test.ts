// Every route of the API (its one table, src/api/routes/index.ts) x every role, over real HTTPS
// against a real `sendense-run api` (docs/api.md#tokens-and-roles): a role below the route's is
// refused with 403 before anything else of the request is read, a role at or above it is let in;
// no token, a wrong one, an expired one and a removed one are 401. A token's secret never shows in
// an answer, the server's output, a command line or the state database.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SqliteDatabase as Database } from '../../src/store/sqlite-driver.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/api/routes/index.js';
import { ROLES, roleAllows, type Role } from '../../src/api/roles.js';
import { addApiToken, startApiServer, type ApiServer } from '../support/api-server.js';
import { sendenseRun, writePlan } from '../support/sendense-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';

const ws = useRunWorkspace('sendense-api-roles-', { per: 'file' });
let server: ApiServer;
const secrets: Record<string, string> = {};
const answers: string[] = [];

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
  for (const role of ROLES) secrets[role] = await addApiToken(ws.db, `${role}-token`, role);
  secrets.expired = await addApiToken(ws.db, 'expired-token', 'admin', ['--expires', '1h']);
  secrets.removed = await addApiToken(ws.db, 'removed-token', 'admin');
  // An hour is long for a test: the token's end moved into the past, as time would.
  const db = new Database(ws.db);
  db.prepare("UPDATE api_tokens SET expires_at = '2020-01-01T00:00:00.000Z' WHERE name = 'expired-token'").run();
  db.close();
  expect((await sendenseRun(['--db', ws.db, 'token', 'remove', 'removed-token'])).exitCode).toBe(0);
  server = await startApiServer({ db: ws.db, plans: [plans] });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

// A request each route refuses after its role check: names and ids that do not exist, a `wait`
// or `dryRun` that is not a boolean, a body with a field no route takes. So a role that gets in
// gets 400 or 404, and nothing is run, changed or read.
function probe(route: (typeof ROUTES)[number]): { url: string; body?: unknown } {
  const url = route.url.replace(/:([a-z_]+)/g, (_, name: string) => `no-such-${name}`);
  const query = new URLSearchParams();
  const properties = (route.querystring as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
  if ('wait' in properties) query.set('wait', 'bogus');
  else if ('dryRun' in properties) query.set('dryRun', 'bogus');
  return { url: query.size > 0 ? `${url}?${query}` : url, ...(route.body ? { body: { bogusField: 1 } } : {}) };
}

describe.each(ROUTES.map((route) => [`${route.method} ${route.url}`, route] as const))('%s', (_, route) => {
  it.each(ROLES.map((role) => [role] as const))(
    `role %s: ${route.role} or higher gets in, below is 403`,
    async (role: Role) => {
      const { url, body } = probe(route);
      const answer = await server.request(route.method, url, { token: secrets[role], ...(body ? { body } : {}) });
      answers.push(answer.text);
      if (roleAllows(role, route.role)) {
        expect([401, 403], answer.text).not.toContain(answer.status);
        expect(answer.status, answer.text).toBeLessThan(500);
      } else {
        expect(answer.status, answer.text).toBe(403);
        expect(answer.json()).toMatchObject({ error: 'forbidden' });
      }
    },
  );

  it('no token, a wrong, an expired or a removed one: 401', async () => {
    const { url, body } = probe(route);
    for (const token of [
      undefined,
      'sdr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      secrets.expired,
      secrets.removed,
    ]) {
      const answer = await server.request(route.method, url, {
        ...(token ? { token } : {}),
        ...(body ? { body } : {}),
      });
      answers.push(answer.text);
      expect(answer.status, `${token ?? 'no token'}: ${answer.text}`).toBe(401);
      expect(answer.json()).toMatchObject({ error: 'unauthorized' });
    }
  });
});

it('a secret is never in an answer, the server output, a command line or the state database', async () => {
  const everySecret = Object.values(secrets);
  const database = Buffer.concat(
    readdirSync(ws.dir)
      .filter((name) => name.startsWith('state.db'))
      .map((name) => readFileSync(path.join(ws.dir, name))),
  ).toString('latin1');
  const commandLines = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  for (const secret of everySecret) {
    for (const answer of answers) expect(answer).not.toContain(secret);
    expect(server.output()).not.toContain(secret);
    expect(commandLines).not.toContain(secret);
    expect(database).not.toContain(secret);
  }
  expect(answers.length).toBeGreaterThan(ROUTES.length * ROLES.length);
});

it('a console session: a state-changing request without its CSRF token is 403, with it gets in', async () => {
  const login = await server.request('POST', '/api/v1/login', { body: { token: secrets.operator } });
  expect(login.status, login.text).toBe(200);
  const cookie = String(login.headers['set-cookie']).split(';')[0];
  expect(String(login.headers['set-cookie'])).toMatch(/HttpOnly; Secure; SameSite=Strict/);
  const { csrf } = login.json<{ csrf: string }>();
  const without = await server.request('POST', '/api/v1/backups/no-such-id/protect', { headers: { cookie } });
  expect(without.status, without.text).toBe(403);
  const wrong = await server.request('POST', '/api/v1/backups/no-such-id/protect', {
    headers: { cookie, 'x-csrf-token': `${csrf}x` },
  });
  expect(wrong.status, wrong.text).toBe(403);
  const withIt = await server.request('POST', '/api/v1/backups/no-such-id/protect', {
    headers: { cookie, 'x-csrf-token': csrf },
  });
  expect(withIt.status, withIt.text).toBe(404);
  const reads = await server.request('GET', '/api/v1/plans', { headers: { cookie } });
  expect(reads.status, reads.text).toBe(200);
  await server.request('POST', '/api/v1/logout', { headers: { cookie } });
  expect((await server.request('GET', '/api/v1/plans', { headers: { cookie } })).status).toBe(401);
});

it('the OpenAPI 3.1 document (no token needed) has every route of the table, with its role', async () => {
  const answer = await server.request('GET', '/api/v1/openapi.json');
  expect(answer.status).toBe(200);
  const document = answer.json<{ openapi: string; paths: Record<string, Record<string, { description?: string }>> }>();
  expect(document.openapi).toBe('3.1.0');
  for (const route of ROUTES) {
    const operation = document.paths[route.url.replace(/:([a-z_]+)/g, '{$1}')]?.[route.method.toLowerCase()];
    expect(operation, `${route.method} ${route.url}`).toBeDefined();
    expect(operation!.description).toContain(`Needs the ${route.role} role`);
  }
});

it("a refusal names the role the plan's run needs, not the route's least", async () => {
  for (const role of ['audit', 'restore'] as const) {
    const answer = await server.request('POST', '/api/v1/plans/web01-nightly/run', { token: secrets[role] });
    expect(answer.status, answer.text).toBe(403);
    expect(answer.json<{ message: string }>().message).toMatch(/needs the operator role or higher/);
  }
});
