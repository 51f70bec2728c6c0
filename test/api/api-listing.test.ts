// GET /api/v1/backups answers a listing it built before again only while no point changed
// (docs/how-it-works.md#what-a-listing-reads): a change made by another process (the CLI's
// protect, a new backup, doctor recording a lost file) shows in the next answer.

import { rmSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ListedPoint } from '../../src/core/list-points.js';
import { backUpPoints, type PointChain } from '../retention/point-chain.js';
import { addApiToken, startApiServer, type ApiServer } from '../support/api-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const ws = useRunWorkspace('sendense-api-listing-', { per: 'file' });
const ports = portRangeForTestFile();
let server: ApiServer;
let token: string;
let chain: PointChain;

beforeAll(async () => {
  chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 2, 'vml');
  token = await addApiToken(ws.db, 'auditor', 'audit');
  server = await startApiServer({ db: ws.db, plans: [] });
}, 300_000);

afterAll(async () => {
  await server?.stop();
});

async function listed(): Promise<ListedPoint[]> {
  const reply = await server.request('GET', '/api/v1/backups?vm=vml', { token });
  expect(reply.status, reply.text).toBe(200);
  return reply.json<{ backups: ListedPoint[] }>().backups;
}

it('shows what the CLI changed since the last answer, and answers as `backups --json` prints', async () => {
  const [full, incremental] = chain.ids as [string, string];
  expect((await listed()).map((point) => [point.id, point.protected, point.restorable])).toEqual([
    [full, false, true],
    [incremental, false, true],
  ]);
  const protect = await sendenseRun(['protect', 'vml', '--point', full, '--db', ws.db]);
  expect(protect.exitCode, protect.stderr).toBe(0);
  expect((await listed()).map((point) => [point.id, point.protected])).toEqual([
    [full, true],
    [incremental, false],
  ]);

  // The full loses a file: the listing keeps what was recorded until doctor records the loss.
  const lost = (await listed())[0]!.disks.find((disk) => disk.diskKey === 2001)!.file;
  rmSync(lost);
  expect((await listed()).map((point) => point.restorable)).toEqual([true, true]);
  expect((await sendenseRun(['doctor', '--db', ws.db])).exitCode).toBe(0);
  const after = await listed();
  expect(after.map((point) => [point.restorable, point.notRestorableBecause])).toEqual([
    [false, `file missing or unreadable: ${lost}`],
    [false, `file missing or unreadable: ${lost}`],
  ]);
  expect(JSON.parse(JSON.stringify(after))).toEqual(await listBackups(ws.db, 'vml'));
});
