// The files routes over real HTTPS (docs/api.md#files-of-a-point), on a real GPT + ext4 guest disk
// backed up twice: listings, a file with a byte range, a folder as a ZIP holding what `sendense-run
// files --get` extracts, the old system's restore routes answering alike, paths that could leave
// the guest's tree refused; the first overview answers 202 with Retry-After while the appliance
// starts, then the filesystems; an audit token gets none of it; a kill -9 of the server mid-download
// leaves nothing that doctor must clean and the repository unchanged.

import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  backUpGuest,
  readTree,
  repositoryFingerprint,
  sendenseFiles,
  type BackedUpGuest,
} from '../files/guest-disk.js';
import { addApiToken, startApiServer, type ApiServer } from '../support/api-server.js';
import { descendantPids } from '../support/process-tree.js';
import { waitForProcessGone } from '../support/processes.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const ws = useRunWorkspace('sendense-api-files-', { per: 'file' });
let guest: BackedUpGuest;
let server: ApiServer;
let restore: string;
let audit: string;
let point: string;

beforeAll(async () => {
  guest = await backUpGuest(ws.dir, 'filesvm', portRangeForTestFile(10));
  point = guest.backups.at(-1)!.id;
  restore = await addApiToken(guest.db, 'restorer', 'restore');
  audit = await addApiToken(guest.db, 'auditor', 'audit');
  server = await startApiServer({ db: guest.db, plans: [] });
}, 600_000);

afterAll(async () => {
  await server?.stop();
});

const q = (text: string) => encodeURIComponent(text);

it('answers 202 with Retry-After while the appliance starts, then the filesystems', async () => {
  const first = await server.request('GET', `/api/v1/backups/${point}/files`, { token: restore });
  expect(first.status, first.text).toBe(202);
  expect(Number(first.headers['retry-after'])).toBeGreaterThan(0);
  expect(first.json()).toMatchObject({ status: 'starting', reader: 'appliance', startedSeconds: expect.any(Number) });
  // Polled as Retry-After says, for up to 10 minutes (a loaded machine boots the appliance slowly).
  let answer = first;
  const seen: number[] = [];
  for (let tries = 0; tries < 200 && answer.status === 202; tries++) {
    seen.push(answer.json<{ startedSeconds: number }>().startedSeconds);
    await new Promise((resolve) => setTimeout(resolve, Number(answer.headers['retry-after']) * 1000));
    answer = await server.request('GET', `/api/v1/backups/${point}/files`, { token: restore });
  }
  expect(answer.status, answer.text).toBe(200);
  expect(answer.json<{ filesystems: { name: string }[] }>().filesystems.map((fs) => fs.name)).toContain('p1');
  // One appliance started for all the polls, its age counting up.
  expect(seen).toEqual([...seen].sort((a, b) => a - b));
}, 900_000);

it("lists a point's filesystems and a directory, as `files --json` does", async () => {
  const listing = await server.request('GET', `/api/v1/backups/${point}/files`, { token: restore });
  expect(listing.status, listing.text).toBe(200);
  const names = listing.json<{ filesystems: { name: string }[] }>().filesystems.map((fs) => fs.name);
  expect(names).toContain('p1');
  const dir = await server.request('GET', `/api/v1/backups/${point}/files?path=${q('p1:/')}`, { token: restore });
  expect(dir.status, dir.text).toBe(200);
  const cli = await sendenseFiles(['files', guest.vm, '--db', guest.db, '--point', point, '--json', 'p1:/']);
  const cliNames = cli.stdout
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { name?: string }).name)
    .filter(Boolean)
    .sort();
  expect(
    dir
      .json<{ entries: { name: string }[] }>()
      .entries.map((entry) => entry.name)
      .sort(),
  ).toEqual(cliNames);
}, 600_000);

it('downloads a folder as a ZIP holding what `files --get` extracts, and a byte range of a file', async () => {
  const tree = guest.trees.at(-1)!;
  const folder = Object.keys(tree)
    .find((name) => name.includes('/') && tree[name].type === 'file')!
    .split('/')[0];
  const zip = await server.request('GET', `/api/v1/backups/${point}/files/archive?path=${q(`p1:/${folder}`)}`, {
    token: restore,
  });
  expect(zip.status, zip.text.slice(0, 300)).toBe(200);
  expect(zip.headers['content-type']).toBe('application/zip');
  const zipFile = path.join(ws.dir, 'api.zip');
  writeFileSync(zipFile, zip.body);
  const unzipped = path.join(ws.dir, 'unzipped');
  execFileSync('unzip', ['-q', zipFile, '-d', unzipped]);
  const extracted = path.join(ws.dir, 'extracted');
  const cli = await sendenseFiles([
    'files',
    guest.vm,
    '--db',
    guest.db,
    '--point',
    point,
    '--get',
    `p1:/${folder}`,
    '--to',
    extracted,
  ]);
  expect(cli.exitCode, cli.stderr).toBe(0);
  const contents = (root: string) =>
    Object.fromEntries(
      Object.entries(readTree(root)).map(([name, entry]) => [
        name,
        entry.type === 'file' ? (entry as { sha256?: string }).sha256 : entry.type,
      ]),
    );
  expect(contents(unzipped)).toEqual(contents(extracted));

  // The old system's route gives the same archive's files.
  const old = await server.request('GET', `/api/v1/restore/${point}/download-directory?path=${q(`p1:/${folder}`)}`, {
    token: restore,
  });
  expect(old.status).toBe(200);
  const oldFile = path.join(ws.dir, 'old.zip');
  writeFileSync(oldFile, old.body);
  execFileSync('unzip', ['-q', oldFile, '-d', path.join(ws.dir, 'old')]);
  expect(contents(path.join(ws.dir, 'old'))).toEqual(contents(extracted));

  const file = Object.keys(tree).find(
    (name) => tree[name].type === 'file' && (tree[name] as { size?: number }).size! > 100,
  )!;
  const whole = await server.request('GET', `/api/v1/backups/${point}/files/download?path=${q(`p1:/${file}`)}`, {
    token: restore,
  });
  expect(whole.status).toBe(200);
  const ranged = await server.request('GET', `/api/v1/backups/${point}/files/download?path=${q(`p1:/${file}`)}`, {
    token: restore,
    headers: { range: 'bytes=10-49' },
  });
  expect(ranged.status).toBe(206);
  expect(ranged.headers['content-range']).toBe(`bytes 10-49/${whole.body.length}`);
  expect(ranged.body.equals(whole.body.subarray(10, 50))).toBe(true);

  // The audit record names what was read: the point, and the file or folder (docs/api.md#the-audit-record).
  const record = await sendenseRun(['--db', guest.db, 'audit', '--json', '--token', 'restorer', '--limit', '4']);
  expect(
    record.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { action: string; target: string; status: number })
      .map(({ action, target, status }) => ({ action, target, status })),
  ).toEqual([
    { action: 'files-download', target: `point ${point} of VM ${guest.vm}, path p1:/${file}`, status: 206 },
    { action: 'files-download', target: `point ${point} of VM ${guest.vm}, path p1:/${file}`, status: 200 },
    { action: 'files-archive', target: `point ${point} of VM ${guest.vm}, path p1:/${folder}`, status: 200 },
    { action: 'files-archive', target: `point ${point} of VM ${guest.vm}, path p1:/${folder}`, status: 200 },
  ]);
}, 600_000);

it('refuses paths that could leave the guest tree, and an audit token gets no guest byte', async () => {
  for (const bad of ['p1:/../../etc/passwd', 'p1:/a\u0000b', `p1:/${'x'.repeat(5000)}`, 'p1:relative', 'nosuchfs:/']) {
    const answer = await server.request('GET', `/api/v1/backups/${point}/files/download?path=${q(bad)}`, {
      token: restore,
    });
    expect([400, 404], `${JSON.stringify(bad)}: ${answer.text}`).toContain(answer.status);
    expect(answer.json()).toHaveProperty('error');
  }
  for (const route of [
    `/api/v1/backups/${point}/files`,
    `/api/v1/backups/${point}/files/download?path=${q('p1:/')}`,
    `/api/v1/backups/${point}/files/archive?path=${q('p1:/')}`,
    `/api/v1/restore/${point}/files`,
  ]) {
    expect((await server.request('GET', route, { token: audit })).status).toBe(403);
  }
}, 600_000);

it('a kill -9 of the server mid-download: its appliance ends, doctor removes its browse folder, the repository is unchanged', async () => {
  const before = repositoryFingerprint(guest.repository);
  // A download in flight: the request is sent, the server killed before it has answered it all.
  const download = server
    .request('GET', `/api/v1/backups/${point}/files/archive?path=${q('p1:/')}`, { token: restore })
    .catch(() => undefined);
  let children: number[] = [];
  for (let tries = 0; tries < 600 && children.length === 0; tries++) {
    children = descendantPids(server.pid);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const serverPid = server.pid;
  // The folder its download's FIFO is in (docs/file-level-restore.md#where-a-download-passes).
  const browseFolders = () => readdirSync(tmpdir()).filter((name) => name.startsWith(`sendense-browse-${serverPid}-`));
  await server.kill();
  await download;
  for (const pid of children) expect(await waitForProcessGone(pid)).toBe(true);
  const browseFoldersBefore = browseFolders();
  expect(browseFoldersBefore).toHaveLength(1);
  const doctor = await sendenseRun(['--db', guest.db, 'doctor']);
  expect(doctor.exitCode, doctor.stdout + doctor.stderr).toBe(0);
  expect(doctor.stdout).toContain(`files browse folder ${path.join(tmpdir(), browseFoldersBefore[0]!)}`);
  expect(browseFolders()).toEqual([]);
  expect(repositoryFingerprint(guest.repository)).toEqual(before);
  server = await startApiServer({ db: guest.db, plans: [] });
  // ?wait=true: held until the new server's appliance is up, then the filesystems.
  expect((await server.request('GET', `/api/v1/backups/${point}/files?wait=true`, { token: restore })).status).toBe(
    200,
  );
}, 600_000);
