// The API end to end with a live libvirt guest (docs/api.md): a plan of a running domain whose
// ext4 disk the guest keeps writing, run through the API over HTTPS; its events followed to the
// end; its chain listed; the filesystem of the point downloaded as a ZIP holding exactly what
// `sendense-run files --get` extracts of the same point.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readTree, sendenseFiles } from '../files/guest-disk.js';
import { writeLibvirtPlan } from '../libvirt/libvirt-plans.js';
import { addApiToken, followTask, startApiServer, type ApiServer } from '../support/api-server.js';
import { startGuest, type TestGuest } from '../support/libvirt-guest.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('sendense-api-libvirt-', { per: 'file' });
let guest: TestGuest;
let server: ApiServer;
let operator: string;

beforeAll(async () => {
  guest = await startGuest({ name: 'apilive', fsDisk: true });
  expect(guest.consoleText()).toContain('FS-MOUNTED');
  const plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  const scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  writeLibvirtPlan(plans, {
    name: 'apilive-hourly',
    vm: 'apilive',
    domain: guest.name,
    repository: ws.repository,
    ports,
    scratch,
  });
  operator = await addApiToken(ws.db, 'ops', 'operator');
  server = await startApiServer({ db: ws.db, plans: [plans] });
}, 240_000);

afterAll(async () => {
  await server?.stop();
  guest?.remove();
});

it('backs up the running guest through the API and serves its filesystem as the CLI does', async () => {
  const started = await server.request('POST', '/api/v1/plans/apilive-hourly/run', { token: operator });
  expect(started.status, started.text).toBe(202);
  const task = started.json<{ id: string }>();
  const events = await followTask(server, task.id, operator);
  const end = JSON.parse(events.at(-1)!.data) as { status: string };
  expect(end.status, events.map((event) => event.data).join('\n')).toBe('succeeded');
  expect(
    events.some((event) => event.data.includes('"type":"progress"') || event.data.includes('"step":"transfer"')),
  ).toBe(true);

  const chains = (await server.request('GET', '/api/v1/vms/apilive/chains', { token: operator })).json<{
    chains: { points: { id: string; disks: { diskKey: number }[] }[] }[];
  }>();
  expect(chains.chains).toHaveLength(1);
  const point = chains.chains[0].points[0];
  const disk = String(point.disks.at(-1)!.diskKey);
  const listing = await server.request('GET', `/api/v1/backups/${point.id}/files?disk=${disk}&wait=true`, {
    token: operator,
  });
  expect(listing.status, listing.text).toBe(200);
  const fs = listing.json<{ filesystems: { name: string }[] }>().filesystems[0].name;

  const zip = await server.request(
    'GET',
    `/api/v1/backups/${point.id}/files/archive?disk=${disk}&path=${encodeURIComponent(`${fs}:/`)}`,
    { token: operator },
  );
  expect(zip.status, zip.text.slice(0, 300)).toBe(200);
  const zipFile = path.join(ws.dir, 'point.zip');
  writeFileSync(zipFile, zip.body);
  execFileSync('unzip', ['-q', zipFile, '-d', path.join(ws.dir, 'unzipped')]);
  const extracted = path.join(ws.dir, 'extracted');
  const cli = await sendenseFiles([
    'files',
    'apilive',
    '--db',
    ws.db,
    '--point',
    point.id,
    '--disk',
    disk,
    '--get',
    `${fs}:/`,
    '--to',
    extracted,
  ]);
  expect(cli.exitCode, cli.stderr).toBe(0);
  const contents = (root: string) =>
    Object.fromEntries(
      Object.entries(readTree(root)).map(([name, entry]) => [name, entry.type === 'file' ? entry.sha256 : entry.type]),
    );
  const fromCli = contents(extracted);
  expect(Object.keys(fromCli).length).toBeGreaterThan(0);
  expect(contents(path.join(ws.dir, 'unzipped'))).toEqual(fromCli);
}, 900_000);
