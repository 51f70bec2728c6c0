// Readers of a point through the files routes (docs/api.md#files-of-a-point) against what else
// happens on the hub, over real HTTPS on a real ext4 guest disk whose 24 MiB file differs between
// its two points: a client that stops reading blocks no other request (an archive's is cut off
// after a minute) and a token has at most 2 downloads at once; a removed token's download is cut
// off; a forget of the point being read is refused (qemu's lock sees the appliance's reader) and
// the download gives the point's exact bytes.

import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { backUpGuest, POINT_TREES, type BackedUpGuest } from '../files/guest-disk.js';
import { addApiToken, startApiServer, type ApiServer } from '../support/api-server.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const BIG = 24 * MiB;
const ws = useRunWorkspace('sendense-api-readers-', { per: 'file' });
let guest: BackedUpGuest;
let server: ApiServer;
let admin: string;
let restore: string;
let first: string;
const open: IncomingMessage[] = [];

beforeAll(async () => {
  const [tree1, tree2] = POINT_TREES;
  guest = await backUpGuest(ws.dir, 'readersvm', portRangeForTestFile(10), [
    { ...tree1, 'big.bin': { content: randomBytes(BIG), mode: 0o644 } },
    { ...tree2, 'big.bin': { content: randomBytes(BIG), mode: 0o644 } },
  ]);
  first = guest.backups[0]!.id;
  admin = await addApiToken(guest.db, 'admin', 'admin');
  restore = await addApiToken(guest.db, 'restorer', 'restore');
  server = await startApiServer({ db: guest.db, plans: [] });
  // The point's appliance started once, for every case below.
  const listing = await server.request('GET', `/api/v1/backups/${first}/files?path=${q('p1:/')}`, { token: admin });
  expect(listing.status, listing.text).toBe(200);
}, 900_000);

afterAll(async () => {
  for (const response of open) response.destroy();
  await server?.stop();
});

const q = (text: string) => encodeURIComponent(text);
const download = (point: string, file: string) => `/api/v1/backups/${point}/files/download?path=${q(`p1:/${file}`)}`;
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

// A download whose body the test reads itself (the response paused: nothing read until asked).
function openDownload(route: string, token: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      `${server.url}${route}`,
      { headers: { authorization: `Bearer ${token}` }, ca: server.ca },
      (response) => {
        response.pause();
        open.push(response);
        resolve(response);
      },
    );
    request.on('error', reject);
    request.end();
  });
}

// Reads at most `rate` bytes a second until the body ends (complete: true) or is cut off.
function readSlowly(
  response: IncomingMessage,
  rate: number,
  onBytes: (received: number) => void = () => {},
): Promise<{ complete: boolean; body: Buffer }> {
  const parts: Buffer[] = [];
  let received = 0;
  return new Promise((resolve) => {
    const done = (complete: boolean) => resolve({ complete, body: Buffer.concat(parts) });
    response.on('data', (chunk: Buffer) => {
      parts.push(chunk);
      received += chunk.length;
      onBytes(received);
      response.pause();
      setTimeout(() => response.resume(), (chunk.length / rate) * 1000);
    });
    response.once('end', () => done(response.complete));
    response.once('aborted', () => done(false));
    response.once('error', () => done(false));
    response.once('close', () => done(response.complete));
    response.resume();
  });
}

// Resolves with what `work` gives, or with `undefined` once `ms` have passed.
async function within<T>(ms: number, work: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

it('a client that never reads its download blocks no one; a third download of its token answers 429', async () => {
  const stalled = await openDownload(download(first, 'big.bin'), restore);
  let second: IncomingMessage | undefined;
  try {
    expect(stalled.statusCode).toBe(200);
    // Generous: a listing takes a second; it waited behind the stalled download forever before.
    const listing = await within(
      180_000,
      server.request('GET', `/api/v1/backups/${first}/files?path=${q('p1:/')}`, { token: admin }),
    );
    expect(listing?.status, 'a listing of the point being downloaded by a client that stopped reading').toBe(200);
    const ranged = await within(
      180_000,
      server.request('GET', download(first, 'etc/hosts'), { token: restore, headers: { range: 'bytes=0-8' } }),
    );
    expect(ranged?.status, 'a small download of the same token').toBe(206);
    expect(ranged?.text).toBe('127.0.0.1');

    second = await openDownload(download(first, 'big.bin'), restore);
    expect(second.statusCode).toBe(200);
    const third = await server.request('GET', download(first, 'big.bin'), { token: restore });
    expect(third.status, third.text.slice(0, 200)).toBe(429);
    expect(third.json()).toMatchObject({ error: 'too-many-requests' });
    expect((await server.request('GET', download(first, 'etc/hosts'), { token: admin })).status).toBe(200);
  } finally {
    stalled.destroy();
    second?.destroy();
  }
}, 600_000);

it('an archive whose client never reads is cut off after a minute; the point answers again', async () => {
  // A token of its own: the downloads the case before destroyed may still count for a moment.
  const archiver = await addApiToken(guest.db, 'archiver', 'restore');
  const stalled = await openDownload(`/api/v1/backups/${first}/files/archive?path=${q('p1:/')}`, archiver);
  try {
    expect(stalled.statusCode).toBe(200);
    const ended = new Promise<boolean>((resolve) => stalled.once('close', () => resolve(stalled.complete)));
    // An archive holds the session: the listing waits for the server to cut the stalled one off (60 s).
    const listing = await within(
      300_000,
      server.request('GET', `/api/v1/backups/${first}/files?path=${q('p1:/')}`, { token: admin }),
    );
    expect(listing?.status, 'a listing of the point while an archive of it stood still').toBe(200);
    stalled.resume();
    expect(await ended, 'the stalled archive ended complete').toBe(false);
  } finally {
    stalled.destroy();
  }
}, 600_000);

it("a removed token's download running is cut off well before its end", async () => {
  const leaver = await addApiToken(guest.db, 'leaver', 'restore');
  const response = await openDownload(download(first, 'big.bin'), leaver);
  expect(response.statusCode).toBe(200);
  let removal: Promise<unknown> | undefined;
  // 512 KiB a second: the whole file would take 48 s; the server looks at its tokens every second.
  const read = await readSlowly(response, 512 * 1024, (received) => {
    removal ??= received > 0 ? sendenseRun(['--db', guest.db, 'token', 'remove', 'leaver']) : undefined;
  });
  expect(((await removal) as { exitCode: number }).exitCode).toBe(0);
  expect(read.complete).toBe(false);
  expect(read.body.length).toBeLessThan(BIG);
  expect((await server.request('GET', `/api/v1/backups/${first}/files`, { token: leaver })).status).toBe(401);
}, 600_000);

it('forget of the point a download reads is refused while it runs; the download is the point exact', async () => {
  const before = (await listBackups(guest.db, guest.vm)).map((backup) => backup.id);
  const reader = await addApiToken(guest.db, 'reader', 'restore');
  const response = await openDownload(download(first, 'big.bin'), reader);
  expect(response.statusCode).toBe(200);
  let forget: Promise<{ exitCode: number; stdout: string; stderr: string }> | undefined;
  const read = await readSlowly(response, 2 * MiB, (received) => {
    forget ??= received > 0 ? sendenseRun(['forget', guest.vm, '--point', first, '--db', guest.db]) : undefined;
  });
  const forgot = await forget!;
  expect(forgot.exitCode, forgot.stdout + forgot.stderr).not.toBe(0);
  expect(forgot.stdout + forgot.stderr).toMatch(/open in another process/);
  expect(read.complete).toBe(true);
  expect(sha(read.body)).toBe(guest.trees[0]!['big.bin']!.sha256);
  expect((await listBackups(guest.db, guest.vm)).map((backup) => backup.id)).toEqual(before);
}, 600_000);
