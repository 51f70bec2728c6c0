// A VM's drills and a drill's screenshot over real HTTPS against a real `sendense-run api`
// (docs/api.md#drills): the audit role reads what each drill proved, newest first, without the
// guest's console; the screenshot is guest data, a PNG for the restore role only; a run with no
// drill is a 404. The drills are recorded straight into the real state database through the
// store (what a drill run writes when it ends), not by booting a guest. A drill plan runs as a
// task through the plan-run route, for the operator role (a VM with no point: it ends saying so).

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { screenshotPng } from '../../src/kinds/drill/png.js';
import { openStore, type DrillRecord } from '../../src/store/index.js';
import { addApiToken, startApiServer, type ApiServer } from '../support/api-server.js';
import { writePlan } from '../support/sendense-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';

const ws = useRunWorkspace('sendense-api-drills-', { per: 'file' });
let server: ApiServer;
const tokens: Record<'audit' | 'restore' | 'operator', string> = { audit: '', restore: '', operator: '' };

// A 2x1 image, red then green, as QEMU's screendump writes it (PPM) and the drill keeps it (PNG).
const PNG = screenshotPng(Buffer.concat([Buffer.from('P6\n2 1\n255\n'), Buffer.from([255, 0, 0, 0, 255, 0])]));

function drill(runId: string, endedAt: string, outcome: 'passed' | 'failed', screenshot: boolean): DrillRecord {
  return {
    runId,
    plan: 'web01-drill',
    vm: 'web01',
    repository: ws.repository,
    backupId: `point-${runId}`,
    startedAt: endedAt.replace(/:\d\dZ$/, ':00Z'),
    endedAt,
    outcome,
    bootSeconds: 3.5,
    heartbeatSeconds: outcome === 'passed' ? 21.25 : null,
    checks: [
      { check: 'boot', status: 'passed', seconds: 3.5, detail: 'the domain runs' },
      outcome === 'passed'
        ? { check: 'heartbeat', status: 'passed', seconds: 17.75, detail: 'console: login:' }
        : { check: 'heartbeat', status: 'failed', seconds: 180, detail: 'no heartbeat within 180 s' },
      outcome === 'passed'
        ? { check: 'screenshot', status: 'passed', seconds: 0.5, detail: '2x1 PNG' }
        : { check: 'screenshot', status: 'skipped', seconds: 0, detail: 'the heartbeat check failed' },
    ],
    screenshotPng: screenshot ? PNG.toString('base64') : null,
    consoleTail: 'web01 login: secret guest words',
  };
}

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
  // A drill plan of a VM with no point yet: its run is a task that ends saying so, nothing booted.
  writeFileSync(
    path.join(plans, 'web01-drill.yaml'),
    [
      'version: 1',
      'kind: drill',
      'name: web01-drill',
      'vm: { name: web01 }',
      `repository: { path: ${JSON.stringify(ws.repository)} }`,
      'nbd: { ports: 10900-10901 }',
      'drill:',
      '  point: latest',
      `  scratch: ${JSON.stringify(ws.dir)}`,
      '  checks:',
      '    - boot: {}',
      '',
    ].join('\n'),
  );
  tokens.operator = await addApiToken(ws.db, 'operator', 'operator');
  tokens.audit = await addApiToken(ws.db, 'auditor', 'audit');
  tokens.restore = await addApiToken(ws.db, 'restorer', 'restore');
  const store = await openStore(ws.db);
  await store.recordDrill(drill('run-old', '2026-11-20T02:10:30Z', 'failed', false));
  await store.recordDrill(drill('run-new', '2026-11-27T02:10:30Z', 'passed', true));
  await store.close();
  server = await startApiServer({ db: ws.db, plans: [plans] });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

it("lists a VM's drills newest first to the audit role: outcome, checks, recovery time, never the guest's console", async () => {
  const answer = await server.request('GET', '/api/v1/vms/web01/drills', { token: tokens.audit });
  expect(answer.status, answer.text).toBe(200);
  const { vm, drills } = answer.json<{ vm: string; drills: Record<string, unknown>[] }>();
  expect(vm).toBe('web01');
  expect(drills.map((one) => one.runId)).toEqual(['run-new', 'run-old']);
  expect(drills[0]).toEqual({
    runId: 'run-new',
    plan: 'web01-drill',
    vm: 'web01',
    repository: ws.repository,
    backupId: 'point-run-new',
    startedAt: '2026-11-27T02:10:00Z',
    endedAt: '2026-11-27T02:10:30Z',
    outcome: 'passed',
    bootSeconds: 3.5,
    recoverySeconds: 21.25,
    checks: [
      { check: 'boot', status: 'passed', seconds: 3.5, detail: 'the domain runs' },
      { check: 'heartbeat', status: 'passed', seconds: 17.75, detail: 'console: login:' },
      { check: 'screenshot', status: 'passed', seconds: 0.5, detail: '2x1 PNG' },
    ],
    screenshot: true,
  });
  expect(drills[1]).toMatchObject({ outcome: 'failed', recoverySeconds: null, screenshot: false });
  expect(answer.text).not.toContain('secret guest words');

  const one = await server.request('GET', '/api/v1/vms/web01/drills?limit=1', { token: tokens.audit });
  expect(one.json<{ drills: { runId: string }[] }>().drills.map((each) => each.runId)).toEqual(['run-new']);
  const none = await server.request('GET', '/api/v1/vms/db01/drills', { token: tokens.audit });
  expect(none.json()).toEqual({ vm: 'db01', drills: [] });
});

it("hands the drill's screenshot as PNG to the restore role, and refuses the audit role", async () => {
  const answer = await server.request('GET', '/api/v1/drills/run-new/screenshot', { token: tokens.restore });
  expect(answer.status, answer.text).toBe(200);
  expect(answer.headers['content-type']).toBe('image/png');
  expect(answer.body.equals(PNG)).toBe(true);

  const refused = await server.request('GET', '/api/v1/drills/run-new/screenshot', { token: tokens.audit });
  expect(refused.status, refused.text).toBe(403);
  expect(refused.json()).toMatchObject({ error: 'forbidden' });
  expect(refused.text).toContain('restore');
});

it('answers 404 for a run with no drill, and for a drill that kept no screenshot', async () => {
  const unknown = await server.request('GET', '/api/v1/drills/no-such-run/screenshot', { token: tokens.restore });
  expect(unknown.status, unknown.text).toBe(404);
  expect(unknown.json()).toMatchObject({ error: 'not-found', message: 'no drill was recorded for run no-such-run' });
  const without = await server.request('GET', '/api/v1/drills/run-old/screenshot', { token: tokens.restore });
  expect(without.status, without.text).toBe(404);
  expect(without.json()).toMatchObject({ error: 'not-found', message: 'the drill of run run-old kept no screenshot' });
});

it('runs a drill plan as a task through the plan-run route, for the operator role and not the restore role', async () => {
  const refused = await server.request('POST', '/api/v1/plans/web01-drill/run', { token: tokens.restore });
  expect(refused.status, refused.text).toBe(403);
  expect(refused.json<{ message: string }>().message).toContain('needs the operator role');
  const answer = await server.request('POST', '/api/v1/plans/web01-drill/run?wait=true', { token: tokens.operator });
  expect(answer.status, answer.text).toBe(200);
  const task = answer.json<{ id: string; status: string; runId: string; error: string | null }>();
  expect(task.id).toMatch(/^task-/);
  expect(task.status, answer.text).toBe('failed');
  expect(task.runId).toMatch(/^run-/);
  expect(task.error).toContain('step resolve-point: there is no complete backup of VM web01');
}, 120_000);
