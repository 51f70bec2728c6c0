// The API's browse sessions are files sessions (docs/file-level-restore.md#files-sessions): one
// opened through the API shows in `files --sessions`; a run whose retention merges the point it
// reads ends it first (the merge happens, no "open in another process" warning), and doctor then
// finds nothing left behind. Real HTTPS server, real appliance, real qemu-img merge.

import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { backUpGuest, type BackedUpGuest } from '../files/guest-disk.js';
import { addApiToken, startApiServer, type ApiServer } from '../support/api-server.js';
import { BIN, listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const ws = useRunWorkspace('sendense-api-browse-retention-', { per: 'file' });
const ports = portRangeForTestFile(10);
let guest: BackedUpGuest;
let server: ApiServer;
let token: string;

beforeAll(async () => {
  guest = await backUpGuest(ws.dir, 'browsevm', ports);
  token = await addApiToken(guest.db, 'restorer', 'restore');
  server = await startApiServer({ db: guest.db, plans: [] });
}, 600_000);

afterAll(async () => {
  await server?.stop();
});

interface SessionLine {
  readonly via: string;
  readonly pid: number;
  readonly backupId: string;
  readonly state: string;
}

async function sessions(): Promise<SessionLine[]> {
  const listed = await sendenseRun(['--db', guest.db, 'files', '--sessions', '--json']);
  expect(listed.exitCode, listed.stderr).toBe(0);
  return listed.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as SessionLine);
}

it("a run's retention ends the API's browse session of the point it merges, and doctor finds nothing left", async () => {
  const [oldest, newest] = guest.backups;
  // Browsing the newest point: its chain (the full under it) is open in the API server's appliance.
  const browsed = await server.request('GET', `/api/v1/backups/${newest!.id}/files?wait=true`, { token });
  expect(browsed.status, browsed.text).toBe(200);
  const open = await sessions();
  expect(open).toEqual([expect.objectContaining({ via: 'api', pid: server.pid, backupId: newest!.id, state: 'open' })]);
  const text = await sendenseRun(['--db', guest.db, 'files', '--sessions']);
  expect(text.stdout).toMatch(new RegExp(`${server.pid}\\s+browsevm\\s+${newest!.id}\\s+2000\\s+open \\(API\\)`));

  // The same plan, now keeping two points: its next run merges the oldest into the browsed one.
  const plan = writePlan(ws.dir, {
    name: 'browsevm-backup',
    vm: guest.vm,
    disks: [{ key: 2000, path: path.join(ws.dir, `${guest.vm}-2000.qcow2`) }],
    repository: guest.repository,
    ports,
    retention: { keepLast: 2 },
  });
  const run = await execa(process.execPath, [BIN, plan, '--db', guest.db], { reject: false, env: { CI: '1' } });
  const said = run.stdout + run.stderr;
  expect(run.exitCode, said).toBe(0);
  expect(said).not.toMatch(/retention failed|open in another process/);
  expect(said).toContain(`ended the API browse session (API pid ${server.pid}) on backup ${newest!.id}`);

  const left = (await listBackups(guest.db, guest.vm)).filter((backup) => backup.status === 'complete');
  expect(left.map((backup) => backup.id)).not.toContain(oldest!.id);
  expect(left.map((backup) => backup.id)).toContain(newest!.id);
  expect(left).toHaveLength(2);
  expect(await sessions()).toEqual([]);

  const doctor = await sendenseRun(['--db', guest.db, 'doctor']);
  expect(doctor.exitCode, doctor.stdout + doctor.stderr).toBe(0);
  expect(doctor.stdout).toContain('doctor: nothing left behind');

  // The server still browses: the next request opens the (merged) point again.
  const again = await server.request('GET', `/api/v1/backups/${newest!.id}/files?wait=true`, { token });
  expect(again.status, again.text).toBe(200);
}, 900_000);
