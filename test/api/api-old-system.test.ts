// The old system's routes (docs/api.md#old-system-routes): its exact request for a backup,
// `POST /api/v1/backups {"vm_name":"pgtest1","repository_id":"1","backup_type":"full"}`, runs the
// served backup plan of that VM into repository 1, the number `GET /api/v1/repositories` lists;
// numbers stay the same across restarts and new repositories, and an unknown one is a 404.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addApiToken, startApiServer, type ApiServer } from '../support/api-server.js';
import { listBackups, writePlan } from '../support/sendense-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { createDisk, differenceBetween, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const ws = useRunWorkspace('sendense-api-old-system-', { per: 'file' });
let server: ApiServer | undefined;
let operator: string;
let plans: string;
let source: string;
const ports = portRangeForTestFile(20);

interface Repository {
  id: string;
  number: number;
  path: string;
  name: string;
  plans: string[];
  points: number;
}

beforeAll(async () => {
  plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  source = createDisk(path.join(ws.dir, 'pgtest1.qcow2'), 16 * 1024 ** 2);
  writeDisk(source, ['write -P 0x5a 0 4M']);
  writePlan(plans, {
    name: 'pgtest1-nightly',
    vm: 'pgtest1',
    disks: [{ key: 1, path: source }],
    repository: path.join(ws.dir, 'main-repository'),
    ports: [ports[0], ports[0] + 9],
  });
  operator = await addApiToken(ws.db, 'old-hub', 'operator');
  server = await startApiServer({ db: ws.db, plans: [plans] });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

async function repositories(): Promise<Repository[]> {
  const answer = await server!.request('GET', '/api/v1/repositories', { token: operator });
  expect(answer.status, answer.text).toBe(200);
  return answer.json<{ repositories: Repository[] }>().repositories;
}

it("the old system's request runs the VM's plan into repository 1", async () => {
  const listed = await repositories();
  expect(listed).toEqual([
    expect.objectContaining({
      id: '1',
      path: path.join(ws.dir, 'main-repository'),
      name: 'main-repository',
      plans: ['pgtest1-nightly'],
      points: 0,
    }),
  ]);
  const answer = await server!.request('POST', '/api/v1/backups?wait=true', {
    token: operator,
    body: { vm_name: 'pgtest1', repository_id: '1', backup_type: 'full' },
  });
  expect(answer.status, answer.text).toBe(200);
  expect(answer.json()).toMatchObject({ operation: 'run', status: 'succeeded' });
  const points = await listBackups(ws.db, 'pgtest1');
  expect(points).toHaveLength(1);
  expect(points[0]!.repository).toBe(path.join(ws.dir, 'main-repository'));
  expect(differenceBetween(points[0]!.disks[0]!.file, source)).toBe('');
}, 120_000);

it('a repository nobody serves, or a number not given, is a 404 and runs nothing', async () => {
  for (const id of ['2', '0', 'no-such-repository', '/srv/elsewhere']) {
    const answer = await server!.request('POST', '/api/v1/backups', {
      token: operator,
      body: { vm_name: 'pgtest1', repository_id: id },
    });
    expect(answer.status, `${id}: ${answer.text}`).toBe(404);
    expect(answer.json()).toMatchObject({ error: 'not-found', field: 'repository_id' });
  }
  expect(await listBackups(ws.db, 'pgtest1')).toHaveLength(1);
});

it('numbers stay across a restart that serves a new repository first by name', async () => {
  await server!.stop();
  writePlan(plans, {
    name: 'aaa-web01-nightly',
    vm: 'web01',
    disks: [{ key: 1, path: createDisk(path.join(ws.dir, 'web01.qcow2'), 4 * 1024 ** 2) }],
    repository: path.join(ws.dir, 'another-repository'),
    ports: [ports[0] + 10, ports[1]],
  });
  server = await startApiServer({ db: ws.db, plans: [plans] });
  const listed = await repositories();
  expect(listed.map((repository) => [repository.id, repository.name, repository.points])).toEqual([
    ['1', 'main-repository', 1],
    ['2', 'another-repository', 0],
  ]);
  // By folder name and by path too.
  for (const id of ['main-repository', path.join(ws.dir, 'main-repository')]) {
    const answer = await server.request('POST', '/api/v1/backups?wait=true', {
      token: operator,
      body: { vm_name: 'pgtest1', repository_id: id },
    });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json()).toMatchObject({ status: 'succeeded' });
  }
  expect(await listBackups(ws.db, 'pgtest1')).toHaveLength(3);
}, 180_000);
