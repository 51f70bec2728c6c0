// An ad-hoc restore through the API (docs/api.md#backups): POST /api/v1/backups/{id}/restore with a
// typed body runs the `restore` command as a task, over real HTTPS, of a real point in a real
// repository. Twice to the same target: the second refused (400 naming `overwrite`) and nothing
// changed, then replaced with overwrite: true; the restored bytes are the point's, not the source's
// of now. A point of an encrypted repository is opened with the key file its served plan names. A
// target that is relative or inside the repository is a 400 naming `target.path`; the audit role
// is refused; the audit log says restore and the token.

import { mkdirSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addApiToken, startApiServer, type ApiServer } from '../support/api-server.js';
import { imagesEqual } from '../support/images.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { createDisk, keepCopy, mtimeMs, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const ws = useRunWorkspace('sendense-api-restore-', { per: 'file' });
let server: ApiServer;
let restorer: string;
let auditor: string;
let point: string;
let atBackup: string;
let vaultPoint: string;
let vaultAtBackup: string;

beforeAll(async () => {
  const plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  const source = createDisk(path.join(ws.dir, 'web01.qcow2'), 32 * 1024 ** 2);
  writeDisk(source, ['write -P 0x5a 0 6M', 'write -P 0x33 20M 2M']);
  const ports = portRangeForTestFile(10);
  const plan = writePlan(plans, {
    name: 'web01-nightly',
    vm: 'web01',
    disks: [{ key: 1, path: source }],
    repository: ws.repository,
    ports,
  });
  const backup = await sendenseRun(['--db', ws.db, 'run', plan]);
  expect(backup.exitCode, backup.stderr).toBe(0);
  point = (await listBackups(ws.db, 'web01'))[0]!.id;
  atBackup = keepCopy(source, path.join(ws.dir, 'web01-at-backup.qcow2'));
  // The source moves on: a restore must give the point's bytes, not these.
  writeDisk(source, ['write -P 0x77 0 1M']);
  // A VM in an encrypted repository, its served plan naming the key file.
  const vault = createDisk(path.join(ws.dir, 'vault.qcow2'), 16 * 1024 ** 2);
  writeDisk(vault, ['write -P 0x6b 0 3M']);
  const keyFile = path.join(ws.dir, 'vault.key');
  writeFileSync(keyFile, `${'v'.repeat(40)}\n`, { mode: 0o600 });
  const vaultPlan = path.join(plans, 'vault-nightly.yaml');
  writeFileSync(
    vaultPlan,
    stringify({
      version: 1,
      kind: 'backup',
      name: 'vault-nightly',
      vm: { name: 'vault', source: { type: 'qemu', disks: [{ key: 1, path: vault }] } },
      repository: { path: path.join(ws.dir, 'vault-repository'), encryption: { keyFile } },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
    }),
  );
  const vaultRun = await sendenseRun(['--db', ws.db, 'run', vaultPlan]);
  expect(vaultRun.exitCode, vaultRun.stderr).toBe(0);
  vaultPoint = (await listBackups(ws.db, 'vault'))[0]!.id;
  vaultAtBackup = keepCopy(vault, path.join(ws.dir, 'vault-at-backup.qcow2'));
  // The restore's NBD ports: this file's own range, as the plan's.
  const hub = path.join(ws.dir, 'hub.yaml');
  writeFileSync(hub, `nbd:\n  ports: ${ports[0]}-${ports[1]}\n`);
  restorer = await addApiToken(ws.db, 'restore-robot', 'restore');
  auditor = await addApiToken(ws.db, 'auditor', 'audit');
  server = await startApiServer({ db: ws.db, plans: [plans], args: ['--hub-config', hub] });
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

type Task = { id: string; status: string; exitCode: number | null; error: string | null; operation: string };

async function restore(body: unknown) {
  return server.request('POST', `/api/v1/backups/${point}/restore?wait=true`, { token: restorer, body });
}

it('restores a point into a directory as a task; the same target again is refused without overwrite and replaced with it', async () => {
  const dir = path.join(ws.dir, 'restored');
  const restored = path.join(dir, 'web01-1.qcow2');
  const first = await restore({ target: { type: 'directory', path: dir } });
  expect(first.status, first.text).toBe(200);
  expect(first.json<Task>()).toMatchObject({ operation: 'restore', status: 'succeeded', exitCode: 0 });
  expect(imagesEqual(restored, atBackup)).toBe(true);

  const before = mtimeMs(restored);
  const again = await restore({ target: { type: 'directory', path: dir } });
  expect(again.status, again.text).toBe(400);
  expect(again.json()).toMatchObject({ error: 'bad-request', field: 'overwrite' });
  expect(again.json<{ message: string }>().message).toContain(`${restored} for disk 1 already exists`);
  expect(mtimeMs(restored)).toBe(before);

  const replaced = await restore({ target: { type: 'directory', path: dir }, overwrite: true, verify: true });
  expect(replaced.status, replaced.text).toBe(200);
  expect(replaced.json<Task>()).toMatchObject({ status: 'succeeded', exitCode: 0 });
  expect(imagesEqual(restored, atBackup)).toBe(true);
}, 180_000);

it('restores into a raw file named by the body, the disks chosen', async () => {
  const file = path.join(ws.dir, 'raw', 'web01-disk-{key}.img');
  const answer = await restore({ disks: [1], target: { type: 'file', path: file, format: 'raw' }, verify: false });
  expect(answer.status, answer.text).toBe(200);
  expect(answer.json<Task>()).toMatchObject({ status: 'succeeded' });
  expect(imagesEqual(path.join(ws.dir, 'raw', 'web01-disk-1.img'), atBackup)).toBe(true);
}, 180_000);

it('restores a point of an encrypted repository with the key file its served plan names', async () => {
  const dir = path.join(ws.dir, 'vault-restored');
  const answer = await server.request('POST', `/api/v1/backups/${vaultPoint}/restore?wait=true`, {
    token: restorer,
    body: { target: { type: 'directory', path: dir } },
  });
  expect(answer.status, answer.text).toBe(200);
  expect(answer.json<Task>()).toMatchObject({ status: 'succeeded', exitCode: 0 });
  expect(imagesEqual(path.join(dir, 'vault-1.qcow2'), vaultAtBackup)).toBe(true);
}, 180_000);

it('refuses a target that is relative, inside the repository, or a disk the point lacks: one 400 naming the field', async () => {
  const refusals: [unknown, string, string][] = [
    [{ target: { type: 'file', path: 'restored.qcow2' } }, 'target.path', 'must be an absolute path'],
    [{ target: { type: 'directory', path: path.join(ws.repository, 'x') } }, 'target.path', 'inside the repository'],
    [{ disks: [7], target: { type: 'directory', path: path.join(ws.dir, 'x') } }, 'disks', 'has no disk 7'],
    [{ target: { type: 'nbd', url: 'http://example' } }, 'target.url', 'target.url'],
  ];
  for (const [body, field, says] of refusals) {
    const answer = await restore(body);
    expect(answer.status, answer.text).toBe(400);
    expect(answer.json(), JSON.stringify(body)).toMatchObject({ field });
    expect(answer.json<{ message: string }>().message).toContain(says);
  }
  const tasks = (await server.request('GET', '/api/v1/tasks', { token: auditor })).json<{ tasks: Task[] }>().tasks;
  expect(tasks.filter((task) => task.operation === 'restore')).toHaveLength(4);
});

it('is the restore role’s: an audit token is refused; the audit log names the action and the token', async () => {
  const refused = await server.request('POST', `/api/v1/backups/${point}/restore`, {
    token: auditor,
    body: { target: { type: 'directory', path: path.join(ws.dir, 'never') } },
  });
  expect(refused.status, refused.text).toBe(403);
  const audit = await sendenseRun(['--db', ws.db, '--json', 'audit']);
  const lines = audit.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(lines.filter((line) => line.action === 'restore' && line.token === 'restore-robot').length).toBeGreaterThan(0);
});
