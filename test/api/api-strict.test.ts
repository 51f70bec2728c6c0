// Every route is strict (docs/api.md#errors), generated from the route table itself: to each route,
// alias included, an unknown query field, an unknown body field, a wrong type and an out-of-range
// value of what it declares are each a 400 naming the field, and afterwards the state database and
// the repository are exactly as before. Request values that look like options (`--help`,
// `--db=PATH`, `-h`, `--json`) are refused or taken as the literal names they are: a task's child
// gets its request as JSON on a pipe, never as command-line words (docs/api.md#tasks).

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROUTES } from '../../src/api/routes/index.js';
import { strictSchemas } from '../../src/api/strict-schema.js';
import { SqliteDatabase as Database } from '../../src/store/sqlite-driver.js';
import { addApiToken, startApiServer, type ApiAnswer, type ApiServer } from '../support/api-server.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const ws = useRunWorkspace('sendense-api-strict-', { per: 'file' });
let server: ApiServer;
let admin: string;
let point: string;

beforeAll(async () => {
  const plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  const source = createDisk(path.join(ws.dir, 'web01.qcow2'), 16 * 1024 ** 2);
  writeDisk(source, ['write -P 0x5a 0 4M']);
  const ports = portRangeForTestFile(10);
  const plan = writePlan(plans, {
    name: 'web01-nightly',
    vm: 'web01',
    disks: [{ key: 1, path: source }],
    repository: ws.repository,
    ports: [ports[0], ports[1]],
  });
  const run = await sendenseRun(['--db', ws.db, 'run', plan]);
  expect(run.exitCode, run.stderr).toBe(0);
  point = (await listBackups(ws.db, 'web01'))[0]!.id;
  admin = await addApiToken(ws.db, 'admin', 'admin');
  server = await startApiServer({ db: ws.db, plans: [plans] });
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

// What a user would lose: every table but the audit record, the tokens' last use and the hub's own
// liveness rows, and every file of the repository by its bytes.
function stateNow(): string {
  const db = new Database(ws.db, { readonly: true });
  const skip = new Set(['api_audit', 'api_tokens', 'hub_processes']);
  const tables = (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]
  )
    .map((row) => row.name)
    .filter((name) => !skip.has(name));
  const rows = tables.map((name) => `${name}: ${JSON.stringify(db.prepare(`SELECT * FROM "${name}"`).all())}`);
  db.close();
  return [...rows, ...filesUnder(ws.repository)].join('\n');
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((name) => {
      const file = path.join(dir, name);
      const stat = statSync(file);
      if (!stat.isFile()) return `${name}/`;
      return `${name} ${stat.size} ${createHash('sha256').update(readFileSync(file)).digest('hex')}`;
    });
}

// A real value for each kind of path parameter, so a 400 is about the field sent, not the route.
function urlOf(url: string): string {
  return url.replace(/:([a-z_]+)/g, (_, name: string) => {
    if (name === 'name') return 'web01-nightly';
    if (name === 'vm' || name === 'vm_name') return 'web01';
    return point;
  });
}

interface Probe {
  readonly what: string;
  readonly field: string;
  readonly query?: Record<string, string>;
  readonly body?: Record<string, unknown>;
}

type Where = 'querystring' | 'body';

// A wrong type and an out-of-range value of each field a route declares (where one can be written).
function probesOf(schema: TSchema | undefined, where: Where): Probe[] {
  const properties = (schema?.properties ?? {}) as Record<string, TSchema>;
  return Object.entries(properties).flatMap(([name, field]) => {
    const probes: Probe[] = [];
    const send = (what: string, value: unknown): Probe =>
      where === 'querystring'
        ? { what, field: name, query: { [name]: String(value) } }
        : { what, field: name, body: { ...requiredOf(schema), [name]: value } };
    if (field.type === 'boolean') probes.push(send('wrong type', 'maybe'));
    if (field.type === 'integer' || field.type === 'number') probes.push(send('wrong type', 'many'));
    if (field.type === 'string' && where === 'body') probes.push(send('wrong type', { nested: true }));
    if (typeof field.maxLength === 'number') probes.push(send('too long', 'a'.repeat(field.maxLength + 1)));
    if (typeof field.minLength === 'number' && field.minLength > 0 && where === 'body')
      probes.push(send('too short', ''));
    if (typeof field.maximum === 'number') probes.push(send('above its maximum', field.maximum + 1));
    if (typeof field.minimum === 'number') probes.push(send('below its minimum', field.minimum - 1));
    if (Array.isArray(field.anyOf) && field.anyOf.every((member: TSchema) => 'const' in member))
      probes.push(send('none of its values', 'no-such-value'));
    if (Array.isArray(field.enum)) probes.push(send('none of its values', 'no-such-value'));
    return probes;
  });
}

// The body's required fields with valid values, so a probe is refused for its own field alone.
function requiredOf(schema: TSchema | undefined): Record<string, unknown> {
  const required = (schema?.required ?? []) as string[];
  const properties = (schema?.properties ?? {}) as Record<string, TSchema>;
  return Object.fromEntries(
    required.map((name) => {
      const field = properties[name]!;
      if (name === 'backup_id') return [name, point];
      if (name === 'vm_name') return [name, 'web01'];
      if (name === 'role') return [name, 'audit'];
      if (field.type === 'boolean') return [name, true];
      // A nested object (a restore's target) with its own required fields; a choice its first value.
      if (field.type === 'object') return [name, requiredOf(field)];
      if (Array.isArray(field.anyOf) && 'const' in field.anyOf[0]) return [name, field.anyOf[0].const];
      return [name, 'probe-value'];
    }),
  );
}

function withQuery(url: string, query: Record<string, string> | undefined): string {
  return query ? `${url}?${new URLSearchParams(query).toString()}` : url;
}

function refusedFor(answer: ApiAnswer, field: string, label: string): void {
  expect(answer.status, `${label}: ${answer.text}`).toBe(400);
  expect(answer.json(), label).toMatchObject({ error: 'bad-request', field });
  expect(answer.text, label).not.toMatch(/\bat .*\.(js|ts):\d+/);
}

it('every route refuses a field it does not declare, a wrong type and an out-of-range value, and changes nothing', async () => {
  const before = stateNow();
  let typed = 0;
  for (const route of ROUTES) {
    const url = urlOf(route.url);
    const label = `${route.method} ${route.url}`;
    const schemas = strictSchemas(route);
    refusedFor(
      await server.request(route.method, withQuery(url, { 'zz-unknown': '1' }), {
        token: admin,
        ...(route.method === 'GET' ? {} : { body: requiredOf(schemas.body) }),
      }),
      'zz-unknown',
      `${label} with an unknown query field`,
    );
    if (route.method !== 'GET')
      refusedFor(
        await server.request(route.method, url, {
          token: admin,
          body: { ...requiredOf(schemas.body), zzUnknown: true },
        }),
        'zzUnknown',
        `${label} with an unknown body field`,
      );
    const probes = [...probesOf(schemas.querystring, 'querystring'), ...probesOf(schemas.body, 'body')];
    if (probes.length > 0) typed++;
    for (const probe of probes)
      refusedFor(
        await server.request(route.method, withQuery(url, probe.query), {
          token: admin,
          ...(probe.body ? { body: probe.body } : route.method === 'GET' ? {} : { body: requiredOf(schemas.body) }),
        }),
        probe.field,
        `${label}, ${probe.field} ${probe.what}`,
      );
  }
  // The table is what was probed: every route, and most declare fields of their own.
  expect(ROUTES.length).toBeGreaterThan(30);
  expect(typed).toBeGreaterThan(10);
  expect(stateNow()).toBe(before);
  const tasks = (await server.request('GET', '/api/v1/tasks', { token: admin })).json<{ tasks: unknown[] }>();
  expect(tasks.tasks).toEqual([]);
}, 300_000);

it("the CLI's own spelling of an option is refused, never a real forget", async () => {
  const before = stateNow();
  refusedFor(
    await server.request('POST', `/api/v1/backups/${point}/forget?dry-run=true`, { token: admin }),
    'dry-run',
    'forget?dry-run=true',
  );
  refusedFor(
    await server.request('POST', `/api/v1/backups/${point}/forget`, { token: admin, body: { dryRun: true } }),
    'dryRun',
    'forget {dryRun: true}',
  );
  refusedFor(await server.request('GET', '/api/v1/backups?vmname=x', { token: admin }), 'vmname', 'backups?vmname=');
  expect(stateNow()).toBe(before);
  expect((await listBackups(ws.db, 'web01')).map((backup) => backup.id)).toContain(point);
});

it('a URL whose percent-encoding is not UTF-8 is one documented error', async () => {
  const answer = await server.request('GET', '/api/v1/plans/%C0%AE', { token: admin });
  expect(answer.status).toBe(400);
  expect(answer.json()).toMatchObject({ error: 'bad-request' });
  expect(answer.text).not.toContain('FST_ERR');
});

it('values that look like options are refused or taken literally, never parsed as options', async () => {
  const swapped = path.join(ws.dir, 'swapped.db');
  const values = ['--help', `--db=${swapped}`, '-h', '--json'];
  const before = stateNow();
  for (const value of values) {
    const requests: [string, string, Record<string, unknown>][] = [
      ['POST', '/api/v1/verify?wait=true', { vm: value }],
      ['POST', '/api/v1/verify?wait=true', { backup: value }],
      ['POST', '/api/v1/plans/web01-nightly/failover-test?wait=true', { point: value }],
      ['POST', '/api/v1/backups?wait=true', { vm_name: value }],
      ['POST', '/api/v1/restore/mount', { backup_id: value }],
      ['POST', '/api/v1/tokens', { name: value, role: 'audit' }],
    ];
    for (const [method, url, body] of requests) {
      const answer = await server.request(method, url, { token: admin, body });
      const label = `${method} ${url} ${JSON.stringify(body)}`;
      // Refused as invalid or unknown, or a task that ran with the value as the name it is.
      expect([400, 404, 422, 409, 200], `${label}: ${answer.text}`).toContain(answer.status);
      if (answer.status === 200 && 'status' in answer.json()) {
        const task = answer.json<{ status: string; error: string | null }>();
        expect(task.status, `${label}: ${answer.text}`).not.toBe('succeeded');
        expect(task.error ?? '', label).not.toMatch(/Usage:|unknown option/);
      }
    }
  }
  // The verify of a VM named like an option: no such VM, so nothing was verified and nothing ran.
  const verify = await server.request('POST', '/api/v1/verify?wait=true', { token: admin, body: { vm: '--help' } });
  expect(verify.status, verify.text).toBe(404);
  expect(existsSync(swapped)).toBe(false);
  expect(stateNow()).toBe(before);
  const history = await sendenseRun(['--db', ws.db, '--json', 'history']);
  expect(history.stdout).not.toContain('"plan":"verify"');
}, 300_000);

it("fastify's own refusals come out in the documented shape", async () => {
  const cases: [string, string, Parameters<ApiServer['request']>[2]][] = [
    ['POST', '/api/v1/verify', { token: admin, raw: 'vm=web01', headers: { 'content-type': 'text/plain' } }],
    [
      'POST',
      '/api/v1/verify',
      { token: admin, raw: 'vm=web01', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
    ],
    ['PUT', '/api/v1/plans', { token: admin }],
    ['GET', '/api/v1/backups/%E0%A4%A', { token: admin }],
  ];
  for (const [method, url, options] of cases) {
    const answer = await server.request(method, url, options);
    const label = `${method} ${url}: ${answer.text}`;
    expect(answer.status, label).toBeGreaterThanOrEqual(400);
    expect(answer.status, label).toBeLessThan(500);
    expect(Object.keys(answer.json()).sort(), label).toEqual(expect.arrayContaining(['error', 'message']));
    expect(answer.text, label).not.toMatch(/FST_ERR|"statusCode"|\bat .*\.(js|ts):\d+/);
  }
});
