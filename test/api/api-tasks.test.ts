// Runs through the API over real HTTPS (docs/api.md#tasks), of a real qemu source into a real
// repository: the run's events as server-sent events to the end, the point restorable to the
// source's bytes, history saying api and the token; a second run on the busy VM is 409 naming the
// run; cancel gives back everything; a second server on the same state leaves the first one's live
// task running and reads its end, marking lost only tasks whose process is gone (also later, once
// the first server died); a kill -9 of the server mid-run stops the run with it, doctor finds
// nothing more to do, and nothing half-written is a point.

import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { stopAtEnv } from '../../src/crash-points.js';
import { isProcessAlive, processStartTicks } from '../../src/process/process-identity.js';
import { SqliteDatabase as Database } from '../../src/store/sqlite-driver.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addApiToken, followTask, startApiServer, type ApiServer, type SseEvent } from '../support/api-server.js';
import { DEADLINE_UNDER_LOAD_MS, identify, waitForProcessGone, type ProcessIdentity } from '../support/processes.js';
import { waitUntilStopped } from '../retention/stopped-process.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { createDisk, differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const ws = useRunWorkspace('sendense-api-tasks-', { per: 'file' });
let server: ApiServer;
let operator: string;
let audit: string;
let plans: string;
let source: string;

beforeAll(async () => {
  plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  source = createDisk(path.join(ws.dir, 'web01.qcow2'), 64 * 1024 ** 2);
  writeDisk(source, ['write -P 0x5a 0 24M', 'write -P 0x33 40M 4M']);
  const ports = portRangeForTestFile(20);
  const disks = [{ key: 1, path: source }];
  writePlan(plans, {
    name: 'web01-nightly',
    vm: 'web01',
    disks,
    repository: ws.repository,
    ports: [ports[0], ports[0] + 9],
  });
  // The same VM, slowly: a run that is still going while the test acts.
  writePlan(plans, {
    name: 'web01-slow',
    kind: 'backup',
    vm: 'web01',
    disks,
    repository: ws.repository,
    ports: [ports[0] + 10, ports[1]],
    rate: '2MiB/s',
  });
  operator = await addApiToken(ws.db, 'ops-robot', 'operator');
  audit = await addApiToken(ws.db, 'auditor', 'audit');
  server = await startApiServer({ db: ws.db, plans: [plans] });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

const parse = (events: readonly SseEvent[]) =>
  events.filter((event) => event.event === undefined).map((event) => JSON.parse(event.data) as Record<string, unknown>);

async function startRun(plan: string): Promise<{ id: string; pid: number }> {
  const started = await server.request('POST', `/api/v1/plans/${plan}/run`, { token: operator });
  expect(started.status, started.text).toBe(202);
  expect(started.headers.location).toMatch(/^\/api\/v1\/tasks\/task-/);
  return started.json<{ id: string; pid: number }>();
}

// Until the run holds the VM and copies (its transfer step has started).
async function untilTransfer(id: string): Promise<void> {
  const seen = await followTask(server, id, audit, {
    until: (event) => event.data.includes('"type":"step-start"') && event.data.includes('"step":"transfer"'),
  });
  expect(seen.at(-1)?.data, JSON.stringify(seen)).toContain('"step":"transfer"');
}

async function completePoints(): Promise<string[]> {
  return (await listBackups(ws.db, 'web01'))
    .filter((backup) => backup.status === 'complete')
    .map((backup) => backup.id);
}

function openRows(table: 'port_leases' | 'processes' | 'vm_locks'): number {
  const db = new Database(ws.db, { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

it('runs a plan as a task: its --json events streamed to the end, a point equal to the source, history says api and the token', async () => {
  const kept = keepCopy(source, path.join(ws.dir, 'web01-at-run.qcow2'));
  const task = await startRun('web01-nightly');
  const events = await followTask(server, task.id, audit);
  const lines = parse(events);
  expect(lines[0]).toMatchObject({ type: 'run-start', plan: 'web01-nightly' });
  expect(lines.at(-1)).toMatchObject({ type: 'run-end', status: 'succeeded' });
  expect(events.at(-1)).toMatchObject({ event: 'end' });
  expect(JSON.parse(events.at(-1)!.data)).toMatchObject({
    id: task.id,
    status: 'succeeded',
    exitCode: 0,
    token: 'ops-robot',
  });
  // Resumed after event 2: the same events from 3 on.
  const resumed = await followTask(server, task.id, audit, { lastEventId: 2 });
  expect(resumed.map((event) => event.data)).toEqual(events.slice(2).map((event) => event.data));

  const backups = (await server.request('GET', '/api/v1/backups?vm=web01', { token: audit })).json<{
    backups: { id: string; status: string; disks: { file: string }[] }[];
  }>().backups;
  expect(backups).toHaveLength(1);
  expect(backups[0].status).toBe('complete');
  expect(differenceBetween(backups[0].disks[0].file, kept)).toBe('');
  const chains = (await server.request('GET', '/api/v1/backups/chain/web01', { token: audit })).json<{
    chains: { points: { id: string }[] }[];
  }>();
  expect(chains.chains[0].points.map((point) => point.id)).toEqual([backups[0].id]);

  const history = (await server.request('GET', '/api/v1/history?plan=web01-nightly', { token: audit })).json<{
    runs: { trigger: string; actor: string; status: string }[];
  }>();
  expect(history.runs[0]).toMatchObject({ trigger: 'api', actor: 'ops-robot', status: 'succeeded' });
  const text = await sendenseRun(['--db', ws.db, 'history', '--plan', 'web01-nightly']);
  expect(text.stdout).toContain('api:ops-robot');
  const record = await sendenseRun(['--db', ws.db, '--json', 'audit', '--token', 'ops-robot']);
  expect(record.stdout).toContain(`"action":"run"`);
  expect(record.stdout).toContain(`"taskId":"${task.id}"`);
}, 180_000);

it('a second run on a busy VM is 409 naming the run; cancel stops the first and gives back what it took', async () => {
  const before = await completePoints();
  const task = await startRun('web01-slow');
  await untilTransfer(task.id);
  const runId = (await server.request('GET', `/api/v1/tasks/${task.id}`, { token: audit })).json<{ runId: string }>()
    .runId;
  const second = await server.request('POST', '/api/v1/plans/web01-nightly/run', { token: operator });
  expect(second.status, second.text).toBe(409);
  expect(second.json()).toMatchObject({ error: 'conflict' });
  expect(second.json<{ message: string }>().message).toContain(runId);

  const cancelled = await server.request('POST', `/api/v1/tasks/${task.id}/cancel?wait=true`, { token: operator });
  expect(cancelled.status, cancelled.text).toBe(200);
  expect(cancelled.json()).toMatchObject({ status: 'cancelled', exitCode: 130 });
  expect(await waitForProcessGone(task.pid)).toBe(true);
  const run = (await server.request('GET', '/api/v1/history?plan=web01-slow', { token: audit })).json<{
    runs: { id: string; status: string }[];
  }>().runs[0];
  expect(run).toMatchObject({ id: runId, status: 'interrupted' });
  expect(openRows('port_leases')).toBe(0);
  expect(openRows('processes')).toBe(0);
  expect(openRows('vm_locks')).toBe(0);
  expect(await completePoints()).toEqual(before);
}, 180_000);

interface HeldTask {
  readonly id: string;
  readonly pid: number;
  readonly hub: string;
}

// A first server whose tasks hold still at a point (SIGSTOP) until the test lets them go on, a run
// started there, then (after `before`) a second server on the same state: both stopped after `use`.
async function withTwoServers(
  before: (task: HeldTask) => void,
  use: (first: ApiServer, second: ApiServer, task: HeldTask) => Promise<void>,
): Promise<void> {
  const first = await startApiServer({ db: ws.db, plans: [plans], env: stopAtEnv('qemu.bitmap-marking') });
  let second: ApiServer | undefined;
  let held: ProcessIdentity | undefined;
  try {
    const started = await first.request('POST', '/api/v1/plans/web01-nightly/run', { token: operator });
    expect(started.status, started.text).toBe(202);
    const task = started.json<HeldTask>();
    held = identify(task.pid);
    await waitUntilStopped(task.pid);
    before(task);
    second = await startApiServer({ db: ws.db, plans: [plans] });
    await use(first, second, task);
  } finally {
    // A task still held would never hear the first server's SIGTERM.
    if (held !== undefined && isProcessAlive(held.pid, held.startTicks)) process.kill(held.pid, 'SIGCONT');
    await second?.stop();
    await first.stop();
  }
}

async function taskStatus(on: ApiServer, id: string): Promise<string> {
  return (await on.request('GET', `/api/v1/tasks/${id}`, { token: audit })).json<{ status: string }>().status;
}

it("a second server on the same state leaves the first one's running task running, reads its end; only tasks whose process is gone are lost", async () => {
  // Tasks a dead server left running: one whose process is gone, one whose PID a later process
  // (this test's own) now has, with another start time.
  const leftBehind = (task: HeldTask) => {
    const gone = spawnSync('true').pid;
    const reused = { pid: process.pid, startTicks: processStartTicks(process.pid)! + 1 };
    const db = new Database(ws.db);
    const insert = db.prepare(
      "INSERT INTO api_tasks (id, operation, title, token, hub, status, started_at, pid, pid_start_ticks) VALUES (?, 'run', 'run plan old', 'ops-robot', ?, 'running', ?, ?, ?)",
    );
    insert.run('task-left-gone', task.hub, new Date().toISOString(), gone, null);
    insert.run('task-left-reused', task.hub, new Date().toISOString(), reused.pid, reused.startTicks);
    db.close();
  };
  await withTwoServers(leftBehind, async (first, second, task) => {
    expect(await taskStatus(first, task.id)).toBe('running');
    expect(await taskStatus(second, task.id)).toBe('running');
    expect(second.output()).toContain('1 task(s) of another server still running');
    expect(await taskStatus(second, 'task-left-gone')).toBe('lost');
    expect(await taskStatus(second, 'task-left-reused')).toBe('lost');
    expect(second.output()).toContain('2 task(s) of an earlier server were running when it ended: marked lost');

    process.kill(task.pid, 'SIGCONT');
    const events = await followTask(first, task.id, audit);
    expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ id: task.id, status: 'succeeded', exitCode: 0 });
    // Its own server recorded the end; the second reads it from the state database.
    expect(await taskStatus(second, task.id)).toBe('succeeded');
  });
}, 180_000);

it("a second server marks lost the first one's task once the first died and the task's process ended", async () => {
  await withTwoServers(
    () => {},
    async (first, second, task) => {
      expect(await taskStatus(second, task.id)).toBe('running');
      // Its server dies; let go, the task notices (the pipe on its stdin), cleans up and ends.
      await first.kill();
      process.kill(task.pid, 'SIGCONT');
      expect(await waitForProcessGone(task.pid)).toBe(true);
      // Nobody records its end but the second server, which looks again every few seconds.
      const deadline = Date.now() + DEADLINE_UNDER_LOAD_MS;
      while ((await taskStatus(second, task.id)) === 'running' && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await taskStatus(second, task.id), `still running after ${DEADLINE_UNDER_LOAD_MS} ms`).toBe('lost');
    },
  );
}, 180_000);

it('a kill -9 of the server mid-run stops the run with it; doctor has nothing left to clean; the task is lost', async () => {
  const before = await completePoints();
  const task = await startRun('web01-slow');
  await untilTransfer(task.id);
  const runId = (await server.request('GET', `/api/v1/tasks/${task.id}`, { token: audit })).json<{ runId: string }>()
    .runId;
  await server.kill();
  // The run notices its server gone (the pipe on its stdin), cleans up and ends.
  expect(await waitForProcessGone(task.pid)).toBe(true);
  const doctor = await sendenseRun(['--db', ws.db, 'doctor', '--dry-run']);
  expect(doctor.exitCode, doctor.stdout + doctor.stderr).toBe(0);
  expect(doctor.stdout).toContain('doctor: nothing left behind');
  expect(openRows('port_leases')).toBe(0);
  expect(openRows('processes')).toBe(0);
  expect(await completePoints()).toEqual(before);

  server = await startApiServer({ db: ws.db, plans: [plans] });
  const after = await server.request('GET', `/api/v1/tasks/${task.id}`, { token: audit });
  expect(after.json()).toMatchObject({ status: 'lost' });
  expect(server.output()).toContain('marked lost');
  const run = (await server.request('GET', '/api/v1/history?plan=web01-slow', { token: audit })).json<{
    runs: { id: string; status: string }[];
  }>().runs[0];
  expect(run).toMatchObject({ id: runId, status: 'interrupted' });
}, 180_000);
