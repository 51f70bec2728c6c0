// The API's directory listing takes the fast path (docs/file-level-restore.md#the-fast-path): over
// real HTTPS, an ext4 directory of a real GPT guest disk is listed by debugfs with no appliance
// (no browse session left behind, `"reader": "debugfs"`), with the entries the appliance lists;
// a missing path is a 404; once a download has opened the point's session, that warm session lists.

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { backUpGuest, type BackedUpGuest } from '../files/guest-disk.js';
import { addApiToken, startApiServer, type ApiServer } from '../support/api-server.js';
import { descendantPids } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const ws = useRunWorkspace('sendense-api-fast-', { per: 'file' });
let guest: BackedUpGuest;
let server: ApiServer;
let token: string;

beforeAll(async () => {
  guest = await backUpGuest(ws.dir, 'apifastvm', portRangeForTestFile(10));
  token = await addApiToken(guest.db, 'restorer', 'restore');
  server = await startApiServer({ db: guest.db, plans: [] });
}, 600_000);

afterAll(async () => {
  await server?.stop();
});

const q = (text: string) => encodeURIComponent(text);
interface Listing {
  readonly path: string;
  readonly reader: string;
  readonly entries: readonly { readonly name: string; readonly [field: string]: unknown }[];
}
const list = (where: string) =>
  server.request('GET', `/api/v1/backups/${guest.backups[1]!.id}/files?path=${q(where)}`, { token });

// No libguestfs agent or qemu among the server's children: nothing of an appliance runs.
function applianceRunning(): boolean {
  return descendantPids(server.pid).some((pid) => /guestfs|qemu-system/.test(cmdlineOf(pid)));
}
function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

it('lists an ext4 directory by debugfs with no appliance, as the appliance lists it', async () => {
  const fast = await list('p1:/etc');
  expect(fast.status, fast.text).toBe(200);
  const listing = fast.json<Listing>();
  expect(listing.reader).toBe('debugfs');
  expect(listing.entries.map((entry) => entry.name)).toEqual(['hosts', 'secret.conf']);
  expect(applianceRunning()).toBe(false);

  const missing = await list('p1:/no/such');
  expect(missing.status, missing.text).toBe(404);
  expect(missing.text).toMatch(/no such file or directory/);

  // A download opens the point's browse session (the appliance); the listing then uses it.
  const download = await server.request(
    'GET',
    `/api/v1/backups/${guest.backups[1]!.id}/files/download?path=${q('p1:/etc/hosts')}`,
    { token },
  );
  expect(download.status, download.text).toBe(200);
  const slow = await list('p1:/etc');
  expect(slow.status, slow.text).toBe(200);
  expect(slow.json<Listing>().reader).toBe('appliance');
  expect(slow.json<Listing>().entries).toEqual(listing.entries);
}, 600_000);
